"""The HTTP layer: app factory, one router per resource, negotiation and errors."""

from fastproc.extras import require

# Every API process serves HTML pages, forms and Swagger UI: without the `html` extra it
# stops here with one line saying what to install, not deep in a route.
require("html")
