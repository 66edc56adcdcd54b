"""`GET /jobs/{id}/logs`: what a job's process logged (an extension of OGC API - Processes).

Plain text by default (one line each, fastproc's own lines marked `[fastproc]`, a fan-out
part's lines with the part, tracebacks indented under their line); JSON with `f=json` or
`Accept: application/json`, whose lines are numbered so a reader can ask for the lines
`after` the last it has (the job page follows a running job that way): a number past the
last line reads none yet, and one that is not a line number at all (negative, or past a
signed 64-bit integer) is refused with 400 InvalidParameterValue. Only the job's owner
sees it, as the job itself. The lines are captured by the workers (`fastproc.worker.capture`)
and kept as long as the job, within FASTPROC_JOB_LOG_LINES and FASTPROC_JOB_LOG_BYTES.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from fastproc.api.access import visible_record
from fastproc.api.insights import insights_of
from fastproc.api.responses import JSONResponse, base_url, link
from fastproc.api.state import AppState, get_state
from fastproc.ogc import media
from fastproc.ogc.exceptions import NotAcceptable
from fastproc.store.logbook import JobLog
from fastproc.store.record import JobRecord

router = APIRouter(tags=["Jobs"])
State = Annotated[AppState, Depends(get_state)]

_FORMATS = ("text", "json")
#: The largest `after` a reader may give: line numbers are signed 64-bit integers, as Redis
#: counts them (a larger one can name no line, so it is refused rather than read as "none").
LAST_LINE_NUMBER = 2**63 - 1
_DOC: dict[str, Any] = {
    "x-fastproc-extension": "job logs; not part of OGC API - Processes 1.0",
    "responses": {"200": {
        "description": "The job's log: text lines, or JSON `{jobID, status, lines: [{n, "
                       "time, level, source, message, part?, logger?, traceback?}], total, "
                       "dropped, next, links}`.",
        "content": {"text/plain": {"schema": {"type": "string"}},
                    media.JSON: {"schema": {"type": "object"}}},
    }},
}


def _wants_json(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        if fmt.lower() not in _FORMATS:
            raise NotAcceptable(f"format '{fmt}' is not offered here; use f=text or f=json")
        return fmt.lower() == "json"
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/plain" not in accept


def log_document(record: JobRecord, log: JobLog, href: str) -> dict[str, Any]:
    return {
        "jobID": record.job_id, "status": record.status.value,
        "lines": [line.document() for line in log.lines],
        "total": log.total, "dropped": log.dropped, "next": log.last,
        "links": [link(f"{href}/logs?f=json", media.REL_SELF),
                  link(f"{href}/logs?f=text", media.REL_ALTERNATE, "text/plain",
                       "this log as text"),
                  link(href, media.REL_UP, title="the job")],
    }


def log_text(log: JobLog) -> str:
    head = (f"# {log.dropped} earlier lines were dropped (FASTPROC_JOB_LOG_LINES, "
            "FASTPROC_JOB_LOG_BYTES)\n" if log.dropped else "")
    return head + "".join(line.text() + "\n" for line in log.lines)


@router.get("/jobs/{job_id}/logs", summary="What a job's process logged",
            openapi_extra=_DOC, response_class=Response)
async def job_logs(
    job_id: str, request: Request, state: State,
    after: Annotated[int, Query(ge=0, le=LAST_LINE_NUMBER,
                                description="Only the lines numbered after this (the `next` "
                                            "of an earlier answer)")] = 0,
    f: Annotated[str | None, Query(description="`text` (the default) or `json`")] = None,
) -> Response:
    record = await visible_record(state, job_id, request)
    log = await insights_of(request).logs.read(record.job_id, after)
    if _wants_json(request, f):
        href = f"{base_url(request, state.settings.base_url)}/jobs/{record.job_id}"
        return JSONResponse(log_document(record, log, href))
    return PlainTextResponse(log_text(log), headers={"X-Fastproc-Log-Next": str(log.last)})
