"""OGC API - Processes - Part 4 (job management, draft 24-051): `POST /jobs` defines a job
without starting it, `PATCH /jobs/{id}` replaces members of its definition while it is
`created`, `POST /jobs/{id}/results` starts it, `GET /jobs/{id}/definition` reads the
definition, and `POST /jobs/{id}/rerun` defines a new job from any job's. The rules live
in `fastproc.execution.drafts`; this module reads requests and renders."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.access import visible_record
from fastproc.api.answers import render_outcome
from fastproc.api.auth import authenticate
from fastproc.api.bodies import read_json_object
from fastproc.api.responses import JSONResponse, base_url, state_of
from fastproc.api.state import AppState
from fastproc.api.views import status_info
from fastproc.execution import Asked
from fastproc.execution.drafts import Drafts, definition_of
from fastproc.ogc.exceptions import UnsupportedJobMediaType, UnsupportedSchema
from fastproc.store.record import JobRecord

router = APIRouter(tags=["Job management"])

#: The schemas a `Content-Schema` header may name: Part 3's execute request (what the
#: ogcapi-processes class reads) and Part 1's, which it extends.
KNOWN_SCHEMAS = ("/processes-workflows/execute-workflows.yaml",
                 "/processes-core/execute.yaml", "/schemas/execute.yaml")

_DEFINITION_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execute"}}},
    },
    "parameters": [
        {"name": "Content-Schema", "in": "header", "required": False,
         "schema": {"type": "string"},
         "description": "The schema of the body: Part 3's execute-workflows.yaml."},
    ],
}
_STATUS = {"content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/StatusInfo"}}}}


def _check_schema(request: Request) -> None:
    """/req/job-management/create-unsupported-schema: 422 for a schema not read."""
    schema = request.headers.get("content-schema")
    if schema is None:
        return
    path = urlsplit(schema.strip().strip("<>")).path
    if not any(path.endswith(known) for known in KNOWN_SCHEMAS):
        raise UnsupportedSchema(
            f"Content-Schema '{schema[:200]}' is not a schema this server reads "
            "(execute-workflows.yaml of OGC API - Processes - Part 3)")


async def _definition(request: Request) -> dict[str, Any]:
    body = await read_json_object(request, "job definitions", UnsupportedJobMediaType)
    _check_schema(request)
    return body


def _asked(request: Request, state: AppState, owner: str | None) -> Asked:
    return Asked(base_url(request, state.settings.base_url), owner=owner)


def _created(record: JobRecord, base: str) -> Response:
    return JSONResponse(status_info(record, base), status_code=201,
                        headers={"Location": f"{base}/jobs/{record.job_id}"})


#: The refusals of a definition's media type and schema (Part 4's exception types).
_DEFINITION_REFUSED: dict[str, Any] = {
    "415": {"description": "The body is not JSON (`unsupported-media-type`)"},
    "422": {"description": "A `Content-Schema` this server does not read (`unsupported-schema`)"},
}
_FINISHED: dict[str, Any] = {
    "409": {"description": "The job finished: what it ran with stays as it was (re-run it)"}}
_TOO_MANY: dict[str, Any] = {
    "429": {"description": "The caller holds FASTPROC_MAX_CREATED_PER_CALLER created jobs"}}


@router.post("/jobs", summary="Create a job (not started)", status_code=201,
             openapi_extra={**_DEFINITION_BODY, "responses": {
                 "201": {"description": "The job, `created`; see Location", **_STATUS},
                 **_DEFINITION_REFUSED, **_TOO_MANY}})
async def create_job(request: Request) -> Response:
    """Define a job from an execute request naming its `process`; it runs once started
    (`POST /jobs/{id}/results`). Checked as an execution is; nothing is stored if not."""
    state = state_of(request)
    caller = authenticate(request, state.auth, execute=True)
    definition = await _definition(request)
    asked = _asked(request, state, caller.name if caller else None)
    record = await Drafts(state.execution, state.settings).create(definition, asked)
    return _created(record, asked.base)


@router.patch("/jobs/{job_id}", summary="Update a created job",
              openapi_extra={**_DEFINITION_BODY, "responses": {
                  "200": {"description": "The job, still `created`", **_STATUS},
                  "423": {"description": "The job is queued or running"},
                  **_FINISHED, **_DEFINITION_REFUSED}})
async def update_job(job_id: str, request: Request) -> Response:
    """Replace members of a created job's definition (a member given as null is removed).
    423 while the job is queued or running, 409 once it finished."""
    state = state_of(request)
    authenticate(request, state.auth, execute=True)
    record = await visible_record(state, job_id, request)
    patch = await _definition(request)
    asked = _asked(request, state, record.owner)
    await Drafts(state.execution, state.settings).update(record, patch, asked)
    updated = await state.jobs.get(record.job_id) or record
    return JSONResponse(status_info(updated, asked.base))


@router.post("/jobs/{job_id}/results", summary="Start a created job",
             responses={200: {"description": "The job, started", **_STATUS},
                        423: {"description": "The job is queued or running already"},
                        409: _FINISHED["409"], 410: {"description": "The job was dismissed"}})
async def start_job(job_id: str, request: Request) -> Response:
    """Start a created job (once: a second start answers 423 while it runs). From then on
    it is a job like any other."""
    state = state_of(request)
    authenticate(request, state.auth, execute=True)
    record = await visible_record(state, job_id, request)
    asked = _asked(request, state, record.owner)
    outcome = await Drafts(state.execution, state.settings).start(record, asked)
    response = await render_outcome(outcome, asked, state.jobs)
    response.status_code = 200  # /req/job-management/start-response
    return response


@router.get("/jobs/{job_id}/definition", summary="Definition of a job",
            responses={200: {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Execute"}}}}})
async def job_definition(job_id: str, request: Request) -> Response:
    """The body the job was created or last updated with; for a job executed through
    `/processes/{id}/execution`, its execute request with its `process`."""
    state = state_of(request)
    record = await visible_record(state, job_id, request)
    return JSONResponse(definition_of(record, base_url(request, state.settings.base_url)))


@router.post("/jobs/{job_id}/rerun", summary="Re-run a job", status_code=201,
             responses={201: {"description": "A new job, `created`, with the definition "
                                             "of this one; see Location", **_STATUS},
                        429: _TOO_MANY["429"]})
async def rerun_job(job_id: str, request: Request) -> Response:
    """Define a new job (`created`, not started) from any job's definition: what
    `POST /jobs` with `GET /jobs/{id}/definition` as its body does, in one request."""
    state = state_of(request)
    caller = authenticate(request, state.auth, execute=True)
    record = await visible_record(state, job_id, request)
    asked = _asked(request, state, caller.name if caller else None)
    new = await Drafts(state.execution, state.settings).create(
        definition_of(record, asked.base), asked)
    return _created(new, asked.base)

