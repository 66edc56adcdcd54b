"""`/jobs`, `/jobs/{id}`, `/jobs/{id}/results[/{output}]` and dismissal."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.access import checked_id, no_such_job, visible_record
from fastproc.api.answers import failure_of
from fastproc.api.auth import authenticate, visible
from fastproc.api.html import page
from fastproc.api.html.render import DISMISS_FORM_PATH
from fastproc.api.html.result_views import first_bytes_of, output_views
from fastproc.api.insights import insights_of
from fastproc.api.insights.jobpage import job_page_context
from fastproc.api.negotiation import (
    F_OPENAPI,
    HTML_TOO,
    Format,
    Negotiated,
    add_alternate,
    negotiated,
    preferred_format,
)
from fastproc.api.responses import JSONResponse, base_url, link, state_of
from fastproc.api.result_responses import (
    output_content,
    render_results,
    stream_apart,
    untrusted,
)
from fastproc.api.state import AppState, get_state
from fastproc.api.views import status_info
from fastproc.ogc import media
from fastproc.ogc.exceptions import (
    InvalidParameterValue,
    JobDismissed,
    NoSuchJob,
    NoSuchOutput,
    ResultNotReady,
)
from fastproc.ogc.models import TERMINAL_STATES, JobList, StatusCode, StatusInfo
from fastproc.store.listing import Cursor, JobFilter, JobPage
from fastproc.store.record import JobRecord, parse_iso
from fastproc.store.result_document import decode_results, is_apart

router = APIRouter(tags=["Jobs"])
State = Annotated[AppState, Depends(get_state)]


def _instant(text: str) -> float:
    try:
        moment = parse_iso(text)
    except ValueError as exc:
        raise InvalidParameterValue(f"datetime: '{text}' is not an RFC 3339 date-time") from exc
    if moment.tzinfo is None:
        raise InvalidParameterValue(f"datetime: '{text}' needs a time zone (e.g. Z)")
    return moment.timestamp()


def _datetime_bounds(value: str | None) -> tuple[float | None, float | None]:
    """The job-list `datetime` parameter: an instant or an interval with open ends."""
    if not value:
        return None, None
    if "/" not in value:
        return _instant(value), _instant(value)
    start, end = value.split("/", 1)
    if start in ("", "..") and end in ("", ".."):
        raise InvalidParameterValue("datetime: an interval needs at least one end")
    return (None if start in ("", "..") else _instant(start),
            None if end in ("", "..") else _instant(end))


_CURSOR_DOC = ("A place in the list, as `next` (after) and `prev` (before) links carry it: "
               "paging from it never skips a job, even while records expire.")
_PAGING = ("offset", "limit", "after", "before")


@router.get("/jobs", summary="List jobs",
            responses={200: {"model": JobList, "content": HTML_TOO}})
async def list_jobs(
    request: Request,
    state: State,
    fmt: Negotiated,
    processID: Annotated[list[str] | None, Query()] = None,
    status: Annotated[list[StatusCode] | None, Query()] = None,
    type: Annotated[list[str] | None, Query()] = None,
    datetime: str | None = None,
    minDuration: Annotated[int | None, Query(ge=0)] = None,
    maxDuration: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
    after: Annotated[str | None, Query(description=_CURSOR_DOC)] = None,
    before: Annotated[str | None, Query(description=_CURSOR_DOC)] = None,
) -> Response:
    caller = authenticate(request, state.auth, execute=False)
    if type and "process" not in type:
        listed = _Listed(JobPage([], [], more=False), first=True, older=False)
    else:
        since, until = _datetime_bounds(datetime)
        flt = JobFilter(
            process_ids=frozenset(_split(processID)),
            statuses=frozenset(s.value for s in status or ()),
            min_duration=minDuration, max_duration=maxDuration,
            created_after=since, created_before=until,
            owner=caller.name if caller else None,
        )
        listed = await _read_page(state, flt, limit=limit, offset=offset,
                                  after=_cursor("after", after), before=_cursor("before", before))
    base = base_url(request, state.settings.base_url)
    links = _list_links(request, base, listed, limit=limit, offset=offset)
    doc = add_alternate({"jobs": [status_info(job, base) for job in listed.page.jobs],
                         "links": links}, links[0]["href"], fmt)
    if fmt is Format.JSON:
        return JSONResponse(doc)
    return page(
        request, "jobs.html", base=base, doc=doc, title="Jobs", limit=limit,
        process_ids=[p.description.id for p in await state.catalogue.all()],
        statuses=[s.value for s in StatusCode],
        chosen_processes=set(_split(processID)),
        chosen_statuses={s.value for s in status or ()},
    )


@dataclass(frozen=True, slots=True)
class _Listed:
    page: JobPage
    #: No job is listed before this page.
    first: bool
    #: Jobs may be listed after this page.
    older: bool


def _cursor(name: str, value: str | None) -> Cursor | None:
    if value is None:
        return None
    try:
        return Cursor.parse(value)
    except ValueError as exc:
        raise InvalidParameterValue(
            f"{name}: '{value}' is not a place from a next or prev link") from exc


async def _read_page(state: AppState, flt: JobFilter, *, limit: int, offset: int,
                     after: Cursor | None, before: Cursor | None) -> _Listed:
    if after is not None and before is not None:
        raise InvalidParameterValue("after and before cannot be given together")
    jobs = state.jobs
    if before is None:
        found = await jobs.find(flt, limit=limit, offset=offset, after=after)
        return _Listed(found, first=after is None and offset == 0, older=found.more)
    found = await jobs.find(flt, limit=limit, offset=offset, before=before)
    if found.more:
        return _Listed(found, first=False, older=True)
    # Nothing newer than this page: it is the first one, filled from the newest job.
    found = await jobs.find(flt, limit=limit)
    return _Listed(found, first=True, older=found.more)


def _list_links(request: Request, base: str, listed: _Listed, *, limit: int,
                offset: int) -> list[dict[str, str]]:
    """self, and next and prev links that keep every filter. They page by cursor, not by
    offset: an offset counts jobs that may have expired since the last page."""
    given = request.query_params.multi_items()
    filters = [(k, v) for k, v in given if k not in _PAGING]

    def at(*place: tuple[str, str]) -> str:
        return f"{base}/jobs?{urlencode([*filters, ('limit', str(limit)), *place])}"

    links = [link(at(*[(k, v) for k, v in given if k in ("offset", "after", "before")]),
                  media.REL_SELF)]
    cursors = listed.page.cursors
    if listed.older and cursors:
        links.append(link(at(("after", cursors[-1].token())), media.REL_NEXT))
    if not listed.first:
        if cursors:
            links.append(link(at(("before", cursors[0].token())), media.REL_PREV))
        else:
            links.append(link(at(("offset", str(max(0, offset - limit)))), media.REL_PREV))
    return links


def _split(values: list[str] | None) -> list[str]:
    return [v for value in values or () for v in value.split(",") if v]


def _status_response(request: Request, record: JobRecord, base: str, fmt: Format,
                     extra: dict[str, Any] | None = None) -> Response:
    """The statusInfo of a job, or its page (which follows the job live while it runs);
    `extra`: more of the page (its timeline and log, `fastproc.api.insights.jobpage`)."""
    href = f"{base}/jobs/{record.job_id}"
    doc = add_alternate(status_info(record, base), href, fmt)
    if fmt is Format.JSON:
        return JSONResponse(doc)
    return page(request, "job.html", base=base, doc=doc, title=f"Job {record.job_id}",
                error=record.error, events_href=f"{href}/events",
                live=not record.status.terminal, terminal_states=sorted(TERMINAL_STATES),
                dismiss_action=base + DISMISS_FORM_PATH.format(job_id=record.job_id),
                **(extra or {}))


@router.get("/jobs/{job_id}", summary="Status of a job", openapi_extra=F_OPENAPI,
            responses={200: {"model": StatusInfo, "content": HTML_TOO}})
async def job_status(job_id: str, request: Request) -> Response:
    """The job's statusInfo, or its page. The JSON form carries an ETag: a client that
    polls sends it back in If-None-Match and gets 304 Not Modified, no body, until the
    job changes. (The route the clients poll: it reads the state and the format itself,
    which costs less than FastAPI's dependencies.)"""
    fmt = negotiated(request)
    if fmt is Format.JSON:
        return await job_status_json(job_id, request)
    state = state_of(request)
    record = await visible_record(state, job_id, request)
    base = base_url(request, state.settings.base_url)
    extra = (await job_page_context(insights_of(request), record, f"{base}/jobs/{job_id}")
             if fmt is Format.HTML else None)
    return _status_response(request, record, base, fmt, extra)


async def job_status_json(job_id: str, request: Request) -> Response:
    """The JSON status of `GET /jobs/{id}`, for a request known to want JSON (what
    `fastproc.api.direct` dispatches here): one HMGET of the record's status fields; no
    model is built for a poll."""
    state = state_of(request)
    caller = authenticate(request, state.auth, execute=False)
    found = await state.jobs.get_status(checked_id(job_id))
    if found is None or not visible(found[0].owner, caller):
        raise no_such_job(job_id)
    record, digest = found
    base = base_url(request, state.settings.base_url)
    # The document also depends on the public URL its links start with.
    etag = f'"{digest}-{zlib.crc32(base.encode()):08x}"'
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag})
    doc = add_alternate(status_info(record, base), f"{base}/jobs/{job_id}", Format.JSON)
    return JSONResponse(doc, headers={"ETag": etag})


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names this ETag (weakly compared, as RFC 9110 asks for it)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


@router.delete("/jobs/{job_id}", summary="Dismiss a job",
               responses={200: {"model": StatusInfo, "content": HTML_TOO}})
async def dismiss_job(job_id: str, request: Request, state: State, fmt: Negotiated) -> Response:
    """Dismiss a job whatever its state (OGC 1.0, clause 13): a queued or running job is
    cancelled, a finished one loses its results. Either way the job then reads `dismissed`
    (until `FASTPROC_JOB_TTL` has passed), its results answer 404 `no-such-job`, and a
    second dismissal answers 410."""
    record = await visible_record(state, job_id, request)
    jobs = state.jobs
    if not await jobs.dismiss(record):
        if await jobs.get(record.job_id) is None:
            raise no_such_job(job_id)
        raise JobDismissed(f"job {job_id} is already dismissed")
    record = await jobs.get(record.job_id) or record
    record.status, record.message = StatusCode.DISMISSED, "dismissed"
    return _status_response(request, record, base_url(request, state.settings.base_url), fmt)


async def _finished(state: AppState, job_id: str, request: Request
                    ) -> tuple[JobRecord, bytes]:
    caller = authenticate(request, state.auth, execute=False)
    record, result = await state.jobs.get_with_result(checked_id(job_id))
    if record is None or not visible(record.owner, caller):
        raise no_such_job(job_id)
    if record.status is StatusCode.FAILED:
        raise failure_of(record)
    if record.status is StatusCode.DISMISSED:
        raise NoSuchJob(f"job {job_id} was dismissed: it has no results any more")
    if record.status is not StatusCode.SUCCESSFUL:
        raise ResultNotReady(f"job {job_id} is {record.status.value}; results are not ready")
    if result is None:  # dismissed (or expired) since the record was read
        raise NoSuchJob(f"the results of job {job_id} are gone")
    return record, result


@router.get("/jobs/{job_id}/results", summary="Results of a job",
            responses={200: {"content": HTML_TOO}})
async def job_results(job_id: str, request: Request) -> Response:
    """Results as the execute request asked for them; a page of them for a browser (or
    `f=html`). Clients asking for an output's own media type are never refused (no 406)."""
    if preferred_format(request) is not Format.HTML:
        return await job_results_json(job_id, request)
    state = state_of(request)
    record, result = await _finished(state, job_id, request)
    return await _results_page(request, state, record, result,
                               base_url(request, state.settings.base_url))


async def job_results_json(job_id: str, request: Request) -> Response:
    """The results of `GET /jobs/{id}/results` for a request that is not a browser's
    (what `fastproc.api.direct` dispatches here)."""
    state = state_of(request)
    record, result = await _finished(state, job_id, request)
    base = base_url(request, state.settings.base_url)
    return await render_results(record.request, result, base, job_id, state.jobs)


async def _results_page(request: Request, state: AppState, record: JobRecord, result: bytes,
                        base: str) -> Response:
    job_href = f"{base}/jobs/{record.job_id}"
    proc = await state.catalogue.get(record.process_id)
    descriptions = proc.description.outputs if proc is not None else {}
    links = [
        link(f"{job_href}/results", media.REL_SELF, media.HTML, "these results"),
        link(job_href, media.REL_UP, media.HTML, "job status"),
        link(f"{base}/processes/{record.process_id}", media.REL_PROCESS_DESC, media.HTML,
             "process"),
    ]
    stored = decode_results(result)
    return page(request, "results.html", base=base, title=f"Results of {record.process_id}",
                outputs=await output_views(stored, descriptions, job_href,
                                           first_bytes_of(state.jobs, record.job_id, stored)),
                job_id=record.job_id, job_href=job_href, process_id=record.process_id,
                links=links, rel_results=media.REL_RESULTS)


@router.get("/jobs/{job_id}/results/{output_id}", summary="One output of a job, as bytes")
async def job_output(job_id: str, output_id: str, request: Request, state: State) -> Response:
    _, result = await _finished(state, job_id, request)
    stored = decode_results(result)
    if output_id not in stored:
        raise NoSuchOutput(f"job {job_id} has no output '{output_id}'")
    if is_apart(stored[output_id]):
        response = await stream_apart(stored[output_id], job_id, output_id, state.jobs)
    else:
        data, media_type = await output_content(stored[output_id], job_id, output_id,
                                                state.jobs)
        response = Response(data, media_type=media_type)
    return untrusted(response)
