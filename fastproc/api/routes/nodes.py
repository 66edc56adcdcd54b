"""The processes of a workflow (OGC API - Processes - Part 3, nested processes) over HTTP.

A request whose inputs nest execution requests is executed as any other
(`fastproc.execution.Executor.execute_workflow`). `GET /jobs/{id}/nodes` (an extension)
lists a workflow job's processes with each one's state, for the job page and for clients
that show the tree.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.access import visible_record
from fastproc.api.responses import JSONResponse
from fastproc.api.state import AppState, get_state
from fastproc.jobs.flow import STOPPED, SUCCESSFUL
from fastproc.ogc.exceptions import NotFound
from fastproc.ogc.models import StatusCode
from fastproc.store.record import JobRecord
from fastproc.workflows.tree import ROOT

router = APIRouter(tags=["Jobs"])
State = Annotated[AppState, Depends(get_state)]


_NODES_DOC = {
    "x-fastproc-extension": "not part of OGC API - Processes",
    "responses": {"200": {
        "description": "The processes of a workflow job, root first, each with its path in "
                       "the execute request, its parent and its state (waiting, queued, "
                       "running, successful, failed, stopped).",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }},
}


@router.get("/jobs/{job_id}/nodes", summary="The processes of a workflow job",
            openapi_extra=_NODES_DOC)
async def job_nodes(job_id: str, request: Request, state: State) -> Response:
    record = await visible_record(state, job_id, request)
    outline = record.request.get("workflow")
    if not isinstance(outline, list):
        raise NotFound(f"job {job_id} is not a workflow")
    live = await state.jobs.flows.states(job_id)
    nodes = [{**entry, "status": (live or {}).get(entry["id"]) or _after(record, entry)}
             for entry in outline]
    return JSONResponse({"jobID": job_id, "status": record.status.value, "nodes": nodes})


def _after(record: JobRecord, entry: dict[str, Any]) -> str:
    """A node's state once the workflow's keys are gone: every nested process has run
    when the root runs or the job succeeded; when it failed, the node it names failed."""
    if record.status is StatusCode.DISMISSED:
        return STOPPED
    if record.status is StatusCode.FAILED:
        failed = (record.error or {}).get("node", "")  # none: the root's own run failed
        if entry["path"] == failed:
            return StatusCode.FAILED.value
        return SUCCESSFUL if failed == "" else STOPPED
    return record.status.value if entry["id"] == ROOT else SUCCESSFUL
