"""Response classes and link helpers shared by the routers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fastproc.ogc import media

if TYPE_CHECKING:
    from fastproc.api.state import AppState


class JSONResponse(Response):
    """JSON rendered by orjson: the hot paths serialize a lot of small documents."""

    media_type = media.JSON

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ProblemResponse(JSONResponse):
    media_type = media.PROBLEM_JSON


def state_of(request: Request) -> AppState:
    """The app's state, for the hot routes that read it themselves: FastAPI's dependency
    solving (`get_state`) costs a request more than a Redis call."""
    state: AppState = request.app.state.fastproc
    return state


#: Base URLs by what Starlette builds them from (scheme, Host header, server, root path):
#: every response links with one, and building it costs more than the rest of a poll.
_BASES: dict[tuple[Any, ...], str] = {}
#: Distinct base URLs kept (Host headers are the client's to choose).
_BASES_KEPT = 256


def base_url(request: Request, configured: str | None) -> str:
    if configured:
        return configured.rstrip("/")
    scope = request.scope
    key = (scope.get("scheme"), request.headers.get("host"), scope.get("server"),
           scope.get("app_root_path", scope.get("root_path", "")))
    found = _BASES.get(key)
    if found is None:
        found = str(request.base_url).rstrip("/")
        if len(_BASES) < _BASES_KEPT:
            _BASES[key] = found
    return found


def link(href: str, rel: str, type_: str = media.JSON, title: str | None = None) -> dict[str, str]:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out
