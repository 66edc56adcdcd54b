"""Errors as pages for clients that asked for HTML.

fastproc.api.error_handlers maps every exception to an OGC exception document in one place; this
module wraps those handlers, so a browser sees the same type, title, status and detail as a
page (with the same status code and headers) while every other client keeps the JSON.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.html.render import page
from fastproc.api.negotiation import Format, preferred_format
from fastproc.api.responses import base_url

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]

#: Headers of the JSON answer that do not describe the page that replaces it.
_BODY_HEADERS = frozenset({"content-length", "content-type"})


def _problem_of(response: Response) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(bytes(response.body))
    except orjson.JSONDecodeError:
        return None  # not an exception document: leave the answer as it is
    return doc if isinstance(doc, dict) else None


def as_page(handler: Handler, configured_base: str | None) -> Handler:
    """`handler`, answering with an error page when the request prefers HTML."""

    async def handle(request: Request, exc: Exception) -> Response:
        result = handler(request, exc)
        response = await result if inspect.isawaitable(result) else result
        if preferred_format(request) is not Format.HTML:
            return response
        problem = _problem_of(response)
        if problem is None:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in _BODY_HEADERS}
        return page(request, "error.html", base=base_url(request, configured_base),
                    status_code=response.status_code, headers=headers, problem=problem,
                    title=str(problem.get("title") or "Error"))

    return handle


def install_html_errors(app: FastAPI, configured_base: str | None) -> None:
    """Wrap every HTTP exception handler installed so far (call after installing them)."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = as_page(handler, configured_base)
