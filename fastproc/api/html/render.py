"""Pages from templates: one Jinja2 environment over the packaged templates, autoescaped,
so every value from a request or a process description is escaped where it is shown."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse

from fastproc.api.html.schemas import occurs_text, schema_text
from fastproc.api.negotiation import Format
from fastproc.store.record import NODES_MEMBER, PARTS_MEMBER

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
TEMPLATES_DIR = HERE / "templates"
#: Where the app mounts STATIC_DIR, and the Swagger UI assets under it.
STATIC_PATH = "/static"
SWAGGER_UI_PATH = "/static/swagger-ui"
#: The HTML-only routes (fastproc.api.routes.html_forms) that forms post to.
RUN_FORM_PATH = "/processes/{process_id}/execution/form"
DISMISS_FORM_PATH = "/jobs/{job_id}/dismiss"
DRAFT_FORM_PATH = "/processes/{process_id}/execution/draft"
START_FORM_PATH = "/jobs/{job_id}/start"
RERUN_FORM_PATH = "/jobs/{job_id}/rerun/form"
#: The query parameter of a process page that fills its form from a job's definition.
FROM_JOB_PARAMETER = "from"

#: Long JSON or text values are cut on the page; the raw output link has all of it.
MAX_SHOWN = 20_000


def pretty_json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def shown_json(value: Any) -> str:
    """A value as indented JSON, cut at MAX_SHOWN characters (an input may be large)."""
    text = pretty_json(value)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "\n… (cut here)"


def rel_name(rel: str | None) -> str:
    """`http://www.opengis.net/def/rel/ogc/1.0/job-list` reads as `job-list`."""
    return (rel or "").rstrip("/").rsplit("/", 1)[-1]


@cache
def environment() -> Environment:
    """Built on first use, not at import: importing the API stays free of file reads."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(schema_text=schema_text, pretty_json=pretty_json, rel_name=rel_name,
                       shown_json=shown_json)
    env.globals.update(occurs_text=occurs_text, MAX_SHOWN=MAX_SHOWN, PARTS=PARTS_MEMBER,
                       NODES=NODES_MEMBER)
    return env


def json_href(request: Request) -> str:
    """This page's JSON form, relative so it survives any proxy in front of the API."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "f"]
    return "?" + urlencode([*query, ("f", Format.JSON.value)])


def page(request: Request, template: str, *, base: str, status_code: int = 200,
         headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """Render `template` for this request; `base` is the API's public URL for the navigation.

    `context` usually carries `doc`, the resource's JSON document, whose `links` the page
    shows as `<a>` elements, so the HTML and the JSON lead to the same places.
    """
    def static(path: str) -> str:
        return f"{base}{STATIC_PATH}/{path}"

    # The app's title is the service's own name (FASTPROC_TITLE), on every page.
    html = environment().get_template(template).render(
        base=base, static=static, json_href=json_href(request), service=request.app.title,
        **context)
    return HTMLResponse(html, status_code=status_code, headers=headers)
