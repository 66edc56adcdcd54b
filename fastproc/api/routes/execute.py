"""`POST /processes/{id}/execution`: read the JSON body and the headers' preferences, run
the execute use case (`fastproc.execution`) and render its outcome."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.access import find_process
from fastproc.api.answers import render_outcome
from fastproc.api.auth import authenticate
from fastproc.api.bodies import read_json_object
from fastproc.api.responses import base_url, state_of
from fastproc.execution import Asked
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


@router.post("/processes/{process_id}/execution", summary="Execute a process",
             description=NESTED_FORM, openapi_extra=_EXECUTE_BODY)
async def execute(process_id: str, request: Request) -> Response:
    """Execute as the request's headers prefer, and render the outcome."""
    state = state_of(request)
    caller = authenticate(request, state.auth, execute=True)
    proc = await find_process(state, process_id)
    data = await read_json_object(request, "execute requests")
    asked = Asked(base_url(request, state.settings.base_url),
                  owner=caller.name if caller else None,
                  prefers_async=_prefers_async(request),
                  no_cache="no-cache" in request.headers.get("cache-control", "").lower())
    outcome = await state.execution.execute(proc, data, asked)
    return await render_outcome(outcome, asked, state.jobs)


def _prefers_async(request: Request) -> bool:
    """`Preference-Applied` answers a `Prefer` header, so only when one asked for async."""
    return "respond-async" in request.headers.get("prefer", "").lower()
