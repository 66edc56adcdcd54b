"""The routes every OGC client calls for every job (execute, poll the status, fetch the
results), dispatched below FastAPI.

Their endpoints take `(id, request)` and read what they need themselves, so routing through
FastAPI buys them nothing but its cost: trying each route's pattern in turn, validating the
path parameter, solving an empty dependency graph and wrapping the call. With one write per
answer (`fastproc.api.server`), skipping that took a status poll from 0.38 to 0.11 ms of API
CPU on a 2-core VM (`python -m benchmarks`). Here one pattern per route picks the endpoint;
its exceptions go to the app's own handlers, as Starlette's `ExceptionMiddleware` would send
them, so answers are byte for byte those of the routed path (a test compares them).

Only the JSON form is dispatched here, to the endpoints' JSON halves (the format is decided
once, here): anything else (a page for a browser, another method, a trailing slash) goes on
to FastAPI untouched.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fastproc.api.negotiation import Format, preferred_format
from fastproc.api.routes.execute import execute
from fastproc.api.routes.jobs import job_results_json, job_status_json

Endpoint = Callable[[str, Request], Awaitable[Response]]
#: Whether a request is one the endpoint answers in JSON (else FastAPI serves it).
Wants = Callable[[Request], bool]

_ID = r"(?P<id>[^/]+)"  # Starlette's `{name}`: one path segment


class DirectRoutes:
    """Pure ASGI: sits inside the host and body checks, so both still apply."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: dict[str, list[tuple[re.Pattern[str], Endpoint, Wants]]] = {
            "GET": [(re.compile(rf"/jobs/{_ID}"), job_status_json, _json_status),
                    (re.compile(rf"/jobs/{_ID}/results"), job_results_json, _json_results)],
            "POST": [(re.compile(rf"/processes/{_ID}/execution"), execute, _always)],
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for pattern, endpoint, wants in self._routes.get(scope["method"], ()):
                matched = pattern.fullmatch(_route_path(scope))
                if matched is None:
                    continue
                request = Request(scope, receive, send)
                if wants(request):
                    await _answer(request, endpoint, matched["id"], scope, receive, send)
                    return
                break
        await self.app(scope, receive, send)


async def _answer(request: Request, endpoint: Endpoint, value: str, scope: Scope,
                  receive: Receive, send: Send) -> None:
    try:
        response = await endpoint(value, request)
    except Exception as exc:
        handler = _handler_for(scope, exc)
        if handler is None:
            raise
        response = await handler(request, exc)
    await response(scope, receive, send)


def _handler_for(scope: Scope, exc: Exception
                 ) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    """The app's handler for `exc`, found as Starlette's `ExceptionMiddleware` finds it: by
    the exception's MRO, short of `Exception`, whose handler is the outermost middleware's
    (what nobody handles, such as the body limit's signal, goes on up as it would there)."""
    handlers = scope["app"].exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            handler: Callable[[Request, Exception], Awaitable[Response]] = handlers[cls]
            return handler
    return None


def _route_path(scope: Scope) -> str:
    """The path below the app's root path, as Starlette's router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] == "/":
        return path[len(root):]
    return path


def _json_status(request: Request) -> bool:
    """JSON asked for (a bad `f` or Accept goes on: FastAPI's route gives its 406)."""
    return preferred_format(request) is Format.JSON


def _json_results(request: Request) -> bool:
    return preferred_format(request) is not Format.HTML


def _always(request: Request) -> bool:
    return True
