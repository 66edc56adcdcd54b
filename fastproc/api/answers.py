"""An execution's outcome (`fastproc.execution`) as an HTTP answer: 201 with the job's
statusInfo and Location, the results, or the job's failure as its OGC exception. Every
synchronous answer that ran as a job links it (`Link: rel=monitor`), the failed one too:
the job's page holds the traceback the exception does not."""

from __future__ import annotations

from starlette.responses import Response

from fastproc.api.responses import JSONResponse
from fastproc.api.result_responses import render_results
from fastproc.api.views import status_info
from fastproc.execution import Asked, Created, Failed, Finished, Outcome, StillRunning
from fastproc.jobs.service import JobService
from fastproc.ogc.exceptions import JobFailed
from fastproc.ogc.models import StatusCode
from fastproc.store.record import JobRecord


async def render_outcome(outcome: Outcome, asked: Asked, jobs: JobService) -> Response:
    """The answer to an execute request that ended in `outcome` (raises for `Failed`)."""
    base = asked.base
    if isinstance(outcome, Created):
        return created_response(outcome.job_id, outcome.process_id, base,
                                preference=asked.prefers_async, status=outcome.status)
    if isinstance(outcome, Finished):
        response = await render_results(outcome.request, outcome.result, base,
                                        outcome.job_id or "", jobs)
        if outcome.job_id is None:
            return response
        return with_monitor_link(response, base, outcome.job_id)
    if isinstance(outcome, Failed):
        failure = failure_of(outcome.record)
        failure.headers["Link"] = monitor_link(base, outcome.record.job_id)
        raise failure
    assert isinstance(outcome, StillRunning)
    headers = {"Location": f"{base}/jobs/{outcome.job_id}"}
    return JSONResponse(status_info(outcome.record, base), status_code=201, headers=headers)


def created_response(job_id: str, process_id: str, base: str, *, preference: bool,
                     status: StatusCode = StatusCode.ACCEPTED) -> Response:
    """201 Created: the job's statusInfo, and its Location."""
    record = JobRecord(job_id=job_id, process_id=process_id, status=status)
    headers = {"Location": f"{base}/jobs/{job_id}"}
    if preference:
        headers["Preference-Applied"] = "respond-async"
    return JSONResponse(status_info(record, base), status_code=201, headers=headers)


def with_monitor_link(response: Response, base: str, job_id: str) -> Response:
    """A synchronous execution that created a job links it (/req/core/job-results-success-sync)."""
    monitor = monitor_link(base, job_id)
    existing = response.headers.get("Link")
    response.headers["Link"] = f"{existing}, {monitor}" if existing else monitor
    return response


def monitor_link(base: str, job_id: str) -> str:
    """The `Link` value that leads from a synchronous answer to the job that made it."""
    return f'<{base}/jobs/{job_id}>; rel="monitor"'


def failure_of(record: JobRecord) -> JobFailed:
    """A failed job's error, as the OGC exception its results answer."""
    error = record.error or {}
    return JobFailed(str(error.get("detail") or record.message or "the job failed"),
                     type_uri=error.get("type"), status=int(error.get("status") or 500),
                     title=error.get("title"))
