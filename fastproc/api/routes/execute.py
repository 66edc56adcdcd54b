"""`POST /processes/{id}/execution`: read the JSON body and the headers' preferences, run
the execute use case (`fastproc.execution`) and render its outcome."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.access import find_process
from fastproc.api.answers import render_outcome
from fastproc.api.auth import authenticate
from fastproc.api.responses import base_url, state_of
from fastproc.execution import Asked
from fastproc.ogc import media
from fastproc.ogc.exceptions import InvalidRequest, UnsupportedMediaType
from fastproc.workflows import NESTED_FORM

router = APIRouter(tags=["Execution"])

_EXECUTE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execute"}}},
    },
    "parameters": [
        {"name": "Prefer", "in": "header", "required": False,
         "schema": {"type": "string"},
         "description": "`respond-async` asks for asynchronous execution."},
        {"name": "Cache-Control", "in": "header", "required": False,
         "schema": {"type": "string"},
         "description": "`no-cache` bypasses the result cache of deterministic processes."},
    ],
    "responses": {
        "200": {"description": "Results (synchronous execution)"},
        "201": {"description": "Job created (asynchronous execution), see Location",
                "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/StatusInfo"}}}},
        "204": {"description": "Results by reference, in Link headers"},
    },
}


def _check_content_type(request: Request) -> None:
    """Only JSON (`application/json` or an `application/*+json` type) is read. A form, a
    text/plain or an untyped body is refused: a web page elsewhere could send any of those
    cross-site without a CORS preflight (the HTML forms have their own, guarded route)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == media.JSON or (
            content_type.startswith("application/") and content_type.endswith("+json")):
        return
    raise UnsupportedMediaType(
        f"execute requests are {media.JSON}, not {content_type or 'an untyped body'}")


async def _read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object (what `Executor.execute` takes)."""
    _check_content_type(request)
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object (an execute request)")
    return data


@router.post("/processes/{process_id}/execution", summary="Execute a process",
             description=NESTED_FORM, openapi_extra=_EXECUTE_BODY)
async def execute(process_id: str, request: Request) -> Response:
    """Execute as the request's headers prefer, and render the outcome."""
    state = state_of(request)
    caller = authenticate(request, state.auth, execute=True)
    proc = await find_process(state, process_id)
    data = await _read_json(request)
    asked = Asked(base_url(request, state.settings.base_url),
                  owner=caller.name if caller else None,
                  prefers_async=_prefers_async(request),
                  no_cache="no-cache" in request.headers.get("cache-control", "").lower())
    outcome = await state.execution.execute(proc, data, asked)
    return await render_outcome(outcome, asked, state.jobs)


def _prefers_async(request: Request) -> bool:
    """`Preference-Applied` answers a `Prefer` header, so only when one asked for async."""
    return "respond-async" in request.headers.get("prefer", "").lower()
