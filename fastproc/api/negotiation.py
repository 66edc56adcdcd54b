"""Content negotiation: `?f=` wins over `Accept`; JSON is the default for every client."""

from __future__ import annotations

from starlette.requests import Request

from fastproc.ogc.exceptions import NotAcceptable

_JSON_RANGES = ("application/json", "application/*", "*/*", "application/problem+json")


def require_json(request: Request) -> None:
    """Raise 406 unless the client can take JSON (HTML lands with its own pages)."""
    fmt = request.query_params.get("f")
    if fmt is not None:
        if fmt.lower() != "json":
            raise NotAcceptable(f"format '{fmt}' is not offered here; use f=json")
        return
    accept = request.headers.get("accept")
    if not accept:
        return
    ranges = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if any(r in _JSON_RANGES or r.endswith("+json") for r in ranges):
        return
    if "text/html" in ranges:
        return  # browsers get JSON until the HTML views exist
    raise NotAcceptable(f"none of '{accept}' can be served; this resource is application/json")
