"""`/processes` and `/processes/{id}`: served from the catalogue, never from process code."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.access import visible_record
from fastproc.api.html import page
from fastproc.api.html.forms import Field, fields_of, needs_multipart, prefilled
from fastproc.api.html.render import DRAFT_FORM_PATH, FROM_JOB_PARAMETER, RUN_FORM_PATH
from fastproc.api.html.snippets import request_snippets
from fastproc.api.negotiation import HTML_TOO, Format, Negotiated, add_alternate
from fastproc.api.responses import JSONResponse, base_url, link
from fastproc.api.state import AppState, get_state
from fastproc.api.views import paging_links
from fastproc.execution.drafts import definition_of
from fastproc.ogc import media
from fastproc.ogc.exceptions import InvalidParameterValue, NoSuchProcess
from fastproc.ogc.models import JobControlOption, ProcessDescription, ProcessList
from fastproc.store.catalogue import CataloguedProcess

router = APIRouter(tags=["Processes"])
State = Annotated[AppState, Depends(get_state)]


def _process_links(base: str, process_id: str) -> list[dict[str, str]]:
    href = f"{base}/processes/{process_id}"
    return [
        link(href, media.REL_SELF, title="process description"),
        link(f"{href}/execution", media.REL_EXECUTE, title="execute"),
        link(f"{base}/jobs?processID={process_id}", media.REL_JOB_LIST, title="jobs"),
    ]


async def _served_process(state: AppState, process_id: str) -> CataloguedProcess:
    """The process to describe: 404 unless some live worker serves it."""
    found = await state.catalogue.get(process_id)
    if found is None:
        raise NoSuchProcess(f"no process with id '{process_id}'")
    return found


@router.get("/processes", summary="List the processes",
            responses={200: {"model": ProcessList, "content": HTML_TOO}})
async def list_processes(
    request: Request,
    state: State,
    fmt: Negotiated,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    base = base_url(request, state.settings.base_url)
    everything = await state.catalogue.all()
    shown = everything[offset:offset + limit]
    processes: list[dict[str, Any]] = []
    for proc in shown:
        summary = {**proc.summary, "links": _process_links(base, proc.description.id)}
        processes.append(summary)
    more = offset + limit < len(everything)
    links = paging_links(request, base, "/processes", offset=offset, limit=limit, more=more)
    doc = add_alternate({"processes": processes, "links": links}, links[0]["href"], fmt)
    if fmt is Format.HTML:
        return page(request, "processes.html", base=base, doc=doc, title="Processes")
    return JSONResponse(doc)


@router.get("/processes/{process_id}", summary="Describe a process",
            responses={200: {"model": ProcessDescription, "content": HTML_TOO}})
async def describe_process(
    process_id: str, request: Request, state: State, fmt: Negotiated,
) -> Response:
    proc = await _served_process(state, process_id)
    base = base_url(request, state.settings.base_url)
    doc = {**proc.document, "links": _process_links(base, process_id)}
    add_alternate(doc, f"{base}/processes/{process_id}", fmt)
    if fmt is Format.JSON:
        return JSONResponse(doc)
    fields = fields_of(proc.description)
    from_job = request.query_params.get(FROM_JOB_PARAMETER)
    kept_out = await _fill_from_job(state, request, from_job, fields, base, process_id)
    quoted = quote(process_id, safe="")
    return page(
        request, "process.html", base=base, doc=doc, title=proc.description.title or process_id,
        fields=fields, multipart=needs_multipart(fields),
        form_action=base + RUN_FORM_PATH.format(process_id=quoted),
        draft_action=base + DRAFT_FORM_PATH.format(process_id=quoted),
        can_async=JobControlOption.ASYNC in proc.description.jobControlOptions,
        snippets=request_snippets(proc.description, base), from_job=from_job,
        kept_out=kept_out,
    )


async def _fill_from_job(state: AppState, request: Request, job_id: str | None,
                         fields: list[Field], base: str, process_id: str) -> list[str]:
    """"Edit and run": the form shows the inputs of the job `?from=` names (a job the caller
    may see, of this process); the inputs it cannot show again, by name."""
    if job_id is None:
        return []
    record = await visible_record(state, job_id, request)
    if record.process_id != process_id:
        raise InvalidParameterValue(
            f"job {record.job_id} is a job of '{record.process_id}', not of '{process_id}'")
    inputs = definition_of(record, base).get("inputs")
    return prefilled(fields, inputs if isinstance(inputs, dict) else {})
