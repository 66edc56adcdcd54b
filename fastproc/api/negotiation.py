"""Content negotiation: `?f=` wins over `Accept`; JSON is the default for every client that
does not prefer HTML (no Accept, `*/*`, `application/json`), HTML for browsers.

A browser's Accept (`text/html,...,*/*;q=0.8`) ranks `text/html` above the `*/*` that
covers JSON, so it gets HTML; a client listing both at the same quality gets JSON.
The dependencies are `async` so FastAPI runs them on the loop, not in a thread pool.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import Depends, Query
from starlette.requests import Request

from fastproc.api.responses import link
from fastproc.ogc import media
from fastproc.ogc.exceptions import NotAcceptable


class Format(StrEnum):
    """The representations every OGC resource has (the `f` parameter's values)."""

    JSON = "json"
    HTML = "html"

    @property
    def media_type(self) -> str:
        return media.JSON if self is Format.JSON else media.HTML


#: Media ranges whose best match decides each format, most specific first.
_MATCHES: dict[Format, tuple[str, ...]] = {
    Format.JSON: ("application/json", "application/problem+json", "application/*", "*/*"),
    Format.HTML: ("text/html", "application/xhtml+xml", "text/*", "*/*"),
}

_F_DESCRIPTION = "Representation: `json` (the default) or `html`; wins over `Accept`."
F_PARAMETER = Query(alias="f", description=_F_DESCRIPTION)
#: The same parameter as `openapi_extra` of a hot route that reads it itself (`negotiated`):
#: FastAPI's dependency solving costs a status poll more than its Redis call.
F_OPENAPI: dict[str, Any] = {"parameters": [
    {"name": "f", "in": "query", "required": False, "description": _F_DESCRIPTION,
     "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "F"}}]}


def accepted_ranges(accept: str) -> dict[str, float]:
    """Media range -> quality, ignoring ranges whose quality does not parse."""
    ranges: dict[str, float] = {}
    for part in accept.split(","):
        pieces = [p.strip() for p in part.split(";")]
        name = pieces[0].lower()
        if not name:
            continue
        quality = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges[name] = max(quality, ranges.get(name, 0.0))
    return ranges


def _quality(ranges: dict[str, float], fmt: Format) -> float:
    """The quality of the most specific range covering `fmt` (RFC 9110, 12.5.1)."""
    if fmt is Format.JSON:
        suffixed = [q for r, q in ranges.items() if r.endswith("+json")]
        if "application/json" not in ranges and suffixed:
            return max(suffixed)  # a client of some +json type reads plain JSON too
    for name in _MATCHES[fmt]:
        if name in ranges:
            return ranges[name]
    return 0.0


def preferred_format(request: Request) -> Format | None:
    """The format this request prefers, or None when it accepts neither JSON nor HTML."""
    fmt = request.query_params.get("f")
    if fmt is not None:
        try:
            return Format(fmt.lower())
        except ValueError:
            return None
    accept = request.headers.get("accept")
    if not accept:
        return Format.JSON
    ranges = accepted_ranges(accept)
    json_q, html_q = _quality(ranges, Format.JSON), _quality(ranges, Format.HTML)
    if html_q > json_q:
        return Format.HTML
    return Format.JSON if json_q > 0 else None


async def negotiate(
    request: Request, f: Annotated[str | None, F_PARAMETER] = None,
) -> Format:
    """Dependency of resources offered as JSON and HTML: the format, or 406.

    `f` is declared so the API definition shows it; its value is read from the request.
    """
    return negotiated(request)


#: A route parameter: the negotiated format of a resource offered as JSON and HTML.
Negotiated = Annotated[Format, Depends(negotiate)]


def negotiated(request: Request) -> Format:
    """`negotiate` for a route that declares `F_OPENAPI` instead of the dependency."""
    fmt = preferred_format(request)
    if fmt is None:
        raise _not_acceptable(request, "application/json or text/html")
    return fmt


#: The HTML side of such a resource's 200 answer in the API definition (beside its model).
HTML_TOO: dict[str, Any] = {media.HTML: {"schema": {"type": "string"}}}


async def require_json(request: Request) -> None:
    """Raise 406 unless the client can take JSON (resources that have no HTML form)."""
    fmt = request.query_params.get("f")
    if fmt is not None:
        if fmt.lower() != Format.JSON:
            raise NotAcceptable(f"format '{fmt}' is not offered here; use f=json")
        return
    accept = request.headers.get("accept")
    if accept and _quality(accepted_ranges(accept), Format.JSON) <= 0:
        raise _not_acceptable(request, "application/json")


def _not_acceptable(request: Request, offered: str) -> NotAcceptable:
    fmt = request.query_params.get("f")
    if fmt is not None:
        return NotAcceptable(f"format '{fmt}' is not offered here; use f=json or f=html")
    accept = request.headers.get("accept", "")
    return NotAcceptable(f"none of '{accept}' can be served; this resource is {offered}")


def with_format(href: str, fmt: Format) -> str:
    """`href` with its `f` parameter set to `fmt` (other parameters kept)."""
    parts = urlsplit(href)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "f"]
    query.append(("f", fmt.value))
    return urlunsplit(parts._replace(query=urlencode(query)))


def add_alternate(doc: dict[str, Any], self_href: str, fmt: Format) -> dict[str, Any]:
    """Type the `self` link as `fmt` and link the other format as `alternate` (OGC API -
    Common: a representation links its alternates), so each form leads to the other."""
    other = Format.HTML if fmt is Format.JSON else Format.JSON
    links: list[dict[str, str]] = doc.setdefault("links", [])
    for item in links:
        if item.get("rel") == media.REL_SELF:
            item["type"] = fmt.media_type
    links.append(link(with_format(self_href, other), media.REL_ALTERNATE, other.media_type,
                      f"this document as {other.value.upper()}"))
    return doc
