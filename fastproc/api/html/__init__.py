"""The human side of the API: HTML views of the same OGC resources the JSON describes.

Server-rendered Jinja2 templates and a little CSS and JavaScript ship in this package (no
build step, no CDN): `render` turns a resource's JSON document into its page, `forms` turns a
process description into a form and a submitted form back into an execute request, and
`errors` shows exceptions as pages to clients that asked for HTML.
"""

from fastproc.api.html.render import STATIC_DIR, page

__all__ = ["STATIC_DIR", "page"]
