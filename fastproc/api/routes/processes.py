"""`/processes` and `/processes/{id}`: served from the catalogue, never from process code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.negotiation import require_json
from fastproc.api.responses import JSONResponse, base_url, link
from fastproc.api.state import AppState, get_state
from fastproc.api.views import paging_links
from fastproc.catalogue import CataloguedProcess
from fastproc.ogc import media
from fastproc.ogc.exceptions import NoSuchProcess
from fastproc.ogc.models import ProcessDescription, ProcessList

router = APIRouter(tags=["Processes"], dependencies=[Depends(require_json)])
State = Annotated[AppState, Depends(get_state)]


def _process_links(base: str, process_id: str) -> list[dict[str, str]]:
    href = f"{base}/processes/{process_id}"
    return [
        link(href, media.REL_SELF, title="process description"),
        link(f"{href}/execution", media.REL_EXECUTE, title="execute"),
        link(f"{base}/jobs?processID={process_id}", media.REL_JOB_LIST, title="jobs"),
    ]


async def find_process(state: AppState, process_id: str) -> CataloguedProcess:
    found = await state.catalogue.get(process_id)
    if found is None:
        raise NoSuchProcess(f"no process with id '{process_id}'")
    return found


@router.get("/processes", summary="List the processes",
            responses={200: {"model": ProcessList}})
async def list_processes(
    request: Request,
    state: State,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    base = base_url(request, state.settings.base_url)
    everything = await state.catalogue.all()
    page = everything[offset:offset + limit]
    processes: list[dict[str, Any]] = []
    for proc in page:
        summary = proc.description.summary()
        summary["links"] = _process_links(base, proc.description.id)
        processes.append(summary)
    more = offset + limit < len(everything)
    links = paging_links(request, base, "/processes", offset=offset, limit=limit, more=more)
    return JSONResponse({"processes": processes, "links": links})


@router.get("/processes/{process_id}", summary="Describe a process",
            responses={200: {"model": ProcessDescription}})
async def describe_process(process_id: str, request: Request, state: State) -> Response:
    proc = await find_process(state, process_id)
    doc = proc.description.dump()
    doc["links"] = _process_links(base_url(request, state.settings.base_url), process_id)
    return JSONResponse(doc)
