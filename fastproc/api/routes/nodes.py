"""Workflows (OGC API - Processes - Part 3, nested processes) over HTTP.

`POST /processes/{id}/execution` hands a request whose inputs nest execution requests to
`execute_workflow`: the whole tree is validated against the catalogue before anything runs
(a 400 names the path of the offending node, `inputs.a.inputs.b`), then ONE job runs it,
synchronously or not as for any execution (`fastproc.jobs.flow`).

`GET /jobs/{id}/nodes` (an extension) lists a workflow job's processes with each one's
state, for the job page and for clients that show the tree.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.responses import JSONResponse
from fastproc.api.routes.execute import (
    Asked,
    Executed,
    check_addresses,
    check_outputs,
    created_response,
    job_request_of,
    wait_and_answer,
    wants_async,
)
from fastproc.api.routes.jobs import visible_record
from fastproc.api.service import jobs_of
from fastproc.api.state import AppState, get_state
from fastproc.jobs.flow import STOPPED, SUCCESSFUL, workflow_jobs
from fastproc.net import AddressNotAllowed, check_url_syntax
from fastproc.ogc.exceptions import InvalidParameterValue, NotFound
from fastproc.ogc.inputs import references
from fastproc.ogc.models import ExecuteRequest, StatusCode
from fastproc.settings import Settings
from fastproc.store.catalogue import CataloguedProcess
from fastproc.store.record import JobRecord, new_job_id
from fastproc.workflows.tree import ROOT, Node, WorkflowLimits, parse_workflow, validate_workflow

router = APIRouter(tags=["Jobs"])
State = Annotated[AppState, Depends(get_state)]

async def execute_workflow(state: AppState, proc: CataloguedProcess, body: ExecuteRequest,
                           asked: Asked) -> Executed:
    """The execution intent for a request with nested processes (see the module doc)."""
    nodes = await _validated_tree(state, proc, body, asked.base)
    check_outputs(body, proc)
    check_addresses(body, state.settings)
    is_async = wants_async(body, proc, asked.prefers_async)
    job_request = job_request_of(body)
    job_request["workflow"] = [node.outline() for node in nodes]
    process_id = proc.description.id
    flows = workflow_jobs(jobs_of(state))
    job_id = new_job_id()
    if is_async:
        await flows.submit(process_id, job_request, nodes, job_id=job_id, owner=asked.owner)
        return Executed(created_response(job_id, process_id, asked.base,
                                 preference=asked.prefers_async), job_id)
    async with state.events.watch(job_id) as ended:
        await flows.submit(process_id, job_request, nodes, job_id=job_id, owner=asked.owner)
        response = await wait_and_answer(state, jobs_of(state), job_id, job_request,
                                          asked.base, ended)
        return Executed(response, job_id)


async def _validated_tree(state: AppState, proc: CataloguedProcess, body: ExecuteRequest,
                          base: str) -> list[Node]:
    """The nodes of the request, each process found in the catalogue, with its queue."""
    settings = state.settings
    limits = WorkflowLimits(settings.workflow_max_depth, settings.workflow_max_nodes,
                            settings.workflow_remote)
    outputs = {k: v.dump() for k, v in body.outputs.items()} if body.outputs else None
    nodes = parse_workflow(proc.description.id, body.inputs, outputs, base_url=base,
                           limits=limits)
    served = {p.description.id: p for p in await state.catalogue.all()}
    served[proc.description.id] = proc

    def describe(process_id: str) -> tuple[Any, Any] | None:
        found = served.get(process_id)
        return (found.description, found.validator) if found else None

    validate_workflow(nodes, describe)
    for node in nodes:
        # A remote process is called by a worker of its parent's queue.
        node.queue = (served[node.process_id].entry.queue if node.remote is None
                      else nodes[node.parent or ROOT].queue)
        _check_node_addresses(node, settings)
    return nodes


def _check_node_addresses(node: Node, settings: Settings) -> None:
    """A nested node's references and its remote server must be addresses this server may
    contact (the root's are checked with the request's)."""
    if node.id == ROOT:
        return
    targets = [(f"input '{name}'", href) for name, href in references(node.inputs)]
    if node.remote is not None:
        targets.append(("its server", node.remote))
    for what, url in targets:
        try:
            check_url_syntax(url, settings)
        except AddressNotAllowed as exc:
            raise InvalidParameterValue(f"{node.path}: {what}: {url} is refused: {exc}") from exc


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
    live = await workflow_jobs(jobs_of(state)).states(job_id)
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
