"""`POST /processes/{id}/execution`: validate, answer from the cache or queue a job, and
either wait for it (sync, on job events) or hand back its location (async)."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.auth import Caller, authenticate
from fastproc.api.responses import JSONResponse, base_url, state_of
from fastproc.api.result_responses import render_results
from fastproc.api.routes.processes import find_process
from fastproc.api.service import jobs_of
from fastproc.api.state import AppState
from fastproc.api.views import status_info
from fastproc.cache_key import cache_digest, is_cacheable
from fastproc.jobs.service import JobService
from fastproc.net import AddressNotAllowed, check_url_syntax
from fastproc.ogc import media
from fastproc.ogc.exceptions import (
    InvalidParameterValue,
    InvalidRequest,
    JobDismissed,
    JobFailed,
    UnsupportedMediaType,
)
from fastproc.ogc.inputs import references
from fastproc.ogc.limits import Limits
from fastproc.ogc.models import ExecuteRequest, JobControlOption, StatusCode, first_error
from fastproc.settings import Settings
from fastproc.store.catalogue import CataloguedProcess
from fastproc.store.event_hub import JobEnd
from fastproc.store.record import JobRecord, new_job_id
from fastproc.workflows import NESTED_FORM
from fastproc.workflows.tree import has_nested

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
    """The body as a JSON object (what `execute_document` takes)."""
    _check_content_type(request)
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object (an execute request)")
    return data


def _parse_body(data: dict[str, Any], limits: Limits,
                proc: CataloguedProcess) -> ExecuteRequest:
    """The execute request, bounded by `limits` before any model or schema sees it."""
    limits.check_request(data)
    try:
        body = ExecuteRequest.model_validate(data)
    except ValidationError as exc:
        where, what = first_error(exc)
        raise InvalidRequest(f"execute request member '{where}': {what}") from exc
    proc.validator.check_wrapped(body.model_extra or {})
    return body


def wants_async(body: ExecuteRequest, proc: CataloguedProcess, prefers_async: bool) -> bool:
    """Negotiate the execution mode (OGC 1.0 7.11.2), honouring fastprocesses' `mode`."""
    options = proc.description.jobControlOptions
    can_sync = JobControlOption.SYNC in options
    can_async = JobControlOption.ASYNC in options
    if not can_sync:
        return True
    if not can_async:
        return False
    if body.mode == "async":
        return True
    if body.mode == "sync":
        return False
    return prefers_async


def check_outputs(body: ExecuteRequest, proc: CataloguedProcess) -> None:
    if not body.outputs:
        return
    known = proc.description.outputs
    allowed = set(proc.description.outputTransmission)
    for name, spec in body.outputs.items():
        if name not in known:
            raise InvalidParameterValue(
                f"unknown output '{name}' (outputs: {', '.join(sorted(known))})")
        if spec.transmissionMode not in allowed:
            raise InvalidParameterValue(
                f"output '{name}' cannot be transmitted by {spec.transmissionMode.value}")
        wanted = spec.format.mediaType if spec.format else None
        if wanted:
            offered = output_media_types(known[name].schema_)
            if wanted.split(";")[0].strip().lower() not in offered:
                raise InvalidParameterValue(
                    f"output '{name}' is offered as {', '.join(offered)}, not {wanted}")


def output_media_types(schema: dict[str, Any]) -> list[str]:
    """The media types an output can be delivered in (what `format.mediaType` may ask)."""
    declared = schema.get("contentMediaType")
    if declared:
        return [str(declared).lower()]
    if schema.get("type") == "string":
        return ["text/plain", media.JSON]
    return [media.JSON]


def check_addresses(body: ExecuteRequest, settings: Settings) -> None:
    """Input references and callback URIs must be URLs this server may contact."""
    targets = [(f"input '{name}'", href) for name, href in references(body.inputs)]
    if body.subscriber:
        targets += [(f"subscriber {uri}", str(getattr(body.subscriber, uri)))
                    for uri in ("successUri", "inProgressUri", "failedUri")
                    if getattr(body.subscriber, uri)]
    for what, url in targets:
        try:
            check_url_syntax(url, settings)
        except AddressNotAllowed as exc:
            raise InvalidParameterValue(f"{what}: {url} is refused: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Asked:
    """How an execution was asked for, beyond its execute request: by whom, at which public
    URL, and what the HTTP headers (or a form's fixed choices) prefer."""

    caller: Caller | None
    base: str
    #: `Prefer: respond-async`.
    prefers_async: bool = False
    #: `Cache-Control: no-cache`: compute even if a cached result exists.
    no_cache: bool = False

    @property
    def owner(self) -> str | None:
        return self.caller.name if self.caller else None


@dataclass(frozen=True, slots=True)
class Executed:
    response: Response
    #: The job the execution made (None when cached results were answered without one).
    job_id: str | None


@router.post("/processes/{process_id}/execution", summary="Execute a process",
             description=NESTED_FORM, openapi_extra=_EXECUTE_BODY)
async def execute(process_id: str, request: Request) -> Response:
    state = state_of(request)
    caller = authenticate(request, state.auth, execute=True)
    proc = await find_process(state, process_id)
    data = await _read_json(request)
    asked = Asked(caller, base_url(request, state.settings.base_url),
                  prefers_async=_prefers_async(request),
                  no_cache="no-cache" in request.headers.get("cache-control", "").lower())
    executed = await execute_document(state, proc, data, asked)
    return executed.response


async def execute_document(state: AppState, proc: CataloguedProcess, data: dict[str, Any],
                           asked: Asked) -> Executed:
    """The one execution intent of the API, whoever asks (the JSON route, the HTML form):
    check the execute request `data`, answer it from the cache or submit a job, and wait
    for the job (sync) or answer with its statusInfo (async)."""
    body = _parse_body(data, state.limits, proc)
    if has_nested(body.inputs):  # Part 3 nested processes: a workflow (it imports us)
        from fastproc.api.routes.nodes import execute_workflow
        return await execute_workflow(state, proc, body, asked)
    proc.validator.validate(body.inputs)
    check_outputs(body, proc)
    check_addresses(body, state.settings)
    is_async = wants_async(body, proc, asked.prefers_async)
    job_request = job_request_of(body)
    jobs = jobs_of(state)
    process_id = proc.description.id
    digest = None
    lookup = False
    if _cacheable(proc, jobs, body.inputs):
        # Scoped to the caller: another caller's hit would reveal what they submitted.
        digest = cache_digest(process_id, proc.description.version, body.inputs,
                              job_request["outputs"], body.response.value, owner=asked.owner)
        # A subscriber must hear from a worker, so it always gets a computed job.
        lookup = not (asked.no_cache or body.subscriber)
    job_id = new_job_id()
    # The cache lookup and the submission are one round trip: a hit creates no job.
    submit = functools.partial(
        jobs.submit_unless_cached, process_id, job_request, queue=proc.entry.queue,
        job_id=job_id, cache_key=digest, lookup=lookup, owner=asked.owner)
    if is_async:
        hit = await submit()
        if hit is None:
            return Executed(created_response(job_id, process_id, asked.base,
                                     preference=asked.prefers_async), job_id)
    else:
        async with state.events.watch(job_id) as ended:
            hit = await submit(awaited=True)
            if hit is None:
                response = await wait_and_answer(state, jobs, job_id, job_request, asked.base,
                                                  ended)
                return Executed(response, job_id)
    assert digest is not None  # only a lookup finds a hit
    return await _answer_from_cache(jobs, proc, job_request, digest, hit, is_async, asked)


def job_request_of(body: ExecuteRequest) -> dict[str, Any]:
    """What the job's record keeps of the execute request."""
    job_request: dict[str, Any] = {
        "inputs": body.inputs,
        "outputs": {k: v.dump() for k, v in body.outputs.items()} if body.outputs else None,
        "response": body.response.value,
    }
    if body.subscriber:
        job_request["subscriber"] = body.subscriber.dump()
    return job_request


def _prefers_async(request: Request) -> bool:
    """`Preference-Applied` answers a `Prefer` header, so only when one asked for async."""
    return "respond-async" in request.headers.get("prefer", "").lower()


async def _answer_from_cache(
    jobs: JobService, proc: CataloguedProcess, job_request: dict[str, Any], digest: str,
    hit: bytes, is_async: bool, asked: Asked,
) -> Executed:
    by_reference = any(
        (spec or {}).get("transmissionMode") == "reference"
        for spec in (job_request["outputs"] or {}).values()
    )
    base = asked.base
    if not is_async and not by_reference:
        return Executed(await render_results(job_request, hit, base, "", jobs), None)
    job_id = await jobs.submit_cached(proc.description.id, job_request, cache_key=digest,
                                      result=hit, owner=asked.owner)
    if is_async:
        return Executed(created_response(job_id, proc.description.id, base,
                                 preference=asked.prefers_async,
                                 status=StatusCode.SUCCESSFUL), job_id)
    response = await render_results(job_request, hit, base, job_id, jobs)
    return Executed(with_monitor_link(response, base, job_id), job_id)


def created_response(job_id: str, process_id: str, base: str, *, preference: bool,
             status: StatusCode = StatusCode.ACCEPTED) -> Response:
    record = JobRecord(job_id=job_id, process_id=process_id, status=status)
    headers = {"Location": f"{base}/jobs/{job_id}"}
    if preference:
        headers["Preference-Applied"] = "respond-async"
    return JSONResponse(status_info(record, base), status_code=201, headers=headers)


async def wait_and_answer(
    state: AppState, jobs: JobService, job_id: str, job_request: dict[str, Any], base: str,
    ended: JobEnd,
) -> Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + state.settings.sync_wait
    while True:
        remaining = deadline - loop.time()
        # Past the wait, or the server is stopping: the job goes on without this request.
        if remaining <= 0 or state.events.released:
            return await _sync_timed_out(jobs, job_id, base)
        try:
            async with asyncio.timeout(remaining):
                await ended.wait()
        except TimeoutError:
            return await _sync_timed_out(jobs, job_id, base)
        ended.clear()
        carried = _carried_result(ended)
        if carried is not None:  # the end event brought the result: nothing to read
            response = await render_results(job_request, carried, base, job_id, jobs)
            return with_monitor_link(response, base, job_id)
        record, result = await jobs.get_with_result(job_id)
        if record is None or record.status.terminal:
            break
    response = await finished_job_response(jobs, record, result, job_request, base, job_id)
    return with_monitor_link(response, base, job_id)


def _carried_result(ended: JobEnd) -> bytes | None:
    """The result a successful job's end event carried (see `JobEnd`), if it did."""
    payload = ended.payload
    if not payload or payload.get("status") != StatusCode.SUCCESSFUL.value:
        return None
    result = payload.get("result")
    return result.encode() if isinstance(result, str) else None


async def finished_job_response(
    jobs: JobService, record: JobRecord | None, result: bytes | None,
    job_request: dict[str, Any], base: str, job_id: str,
) -> Response:
    """The answer for a job that ended: its results or its failure as an exception."""
    if record is None or record.status is StatusCode.DISMISSED:
        raise JobDismissed(f"job {job_id} was dismissed before it finished")
    if record.status is StatusCode.FAILED:
        raise failure_of(record)
    if result is None:
        raise JobDismissed(f"the results of job {job_id} are gone (expired or dismissed)")
    return await render_results(job_request, result, base, job_id, jobs)


def _cacheable(proc: CataloguedProcess, jobs: JobService, inputs: dict[str, Any]) -> bool:
    """Whether a request may be answered from (and its result written to) the cache:
    references may change behind their URL, and a process may name inputs that want a
    computed run (e.g. a pause)."""
    return jobs.cache_enabled and is_cacheable(proc.entry.deterministic,
                                               proc.entry.uncached_inputs, inputs)


def with_monitor_link(response: Response, base: str, job_id: str) -> Response:
    """A synchronous execution that created a job links it (/req/core/job-results-success-sync)."""
    monitor = f'<{base}/jobs/{job_id}>; rel="monitor"'
    existing = response.headers.get("Link")
    response.headers["Link"] = f"{existing}, {monitor}" if existing else monitor
    return response


def failure_of(record: JobRecord) -> JobFailed:
    error = record.error or {}
    return JobFailed(str(error.get("detail") or record.message or "the job failed"),
                     type_uri=error.get("type"), status=int(error.get("status") or 500),
                     title=error.get("title"))


async def _sync_timed_out(jobs: JobService, job_id: str, base: str) -> Response:
    """Still running after `sync_wait` (or when the server stops): answer like an async
    execution, so nothing is lost."""
    record = await jobs.get(job_id)
    if record is None:
        raise JobDismissed(f"job {job_id} is gone")
    headers = {"Location": f"{base}/jobs/{job_id}"}
    return JSONResponse(status_info(record, base), status_code=201, headers=headers)
