"""Request bodies the API reads as JSON objects (execute requests, job definitions): the
media types taken and the errors a body that is not one answers, the same for every route."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from fastproc.ogc import media
from fastproc.ogc.exceptions import InvalidRequest, UnsupportedMediaType


def check_content_type(request: Request, what: str,
                       unsupported: type[UnsupportedMediaType] = UnsupportedMediaType) -> None:
    """Only JSON (`application/json` or an `application/*+json` type) is read. A form, a
    text/plain or an untyped body is refused: a web page elsewhere could send any of those
    cross-site without a CORS preflight (the HTML forms have their own, guarded route)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == media.JSON or (
            content_type.startswith("application/") and content_type.endswith("+json")):
        return
    raise unsupported(f"{what} are {media.JSON}, not {content_type or 'an untyped body'}")


async def read_json_object(request: Request, what: str,
                           unsupported: type[UnsupportedMediaType] = UnsupportedMediaType
                           ) -> dict[str, Any]:
    """The body as a JSON object; `what` names it in errors ("execute requests")."""
    check_content_type(request, what, unsupported)
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest(f"the body must be a JSON object ({what})")
    return data
