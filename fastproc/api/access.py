"""Which process a request may execute and which job a caller may see: the lookups that
several routes start with, each answering the same OGC exception whichever route asks."""

from __future__ import annotations

from starlette.requests import Request

from fastproc.api.auth import authenticate, visible
from fastproc.api.state import AppState
from fastproc.ogc.exceptions import NoSuchJob, NoSuchProcess
from fastproc.store.catalogue import CataloguedProcess
from fastproc.store.record import JobRecord, is_job_id


async def find_process(state: AppState, process_id: str) -> CataloguedProcess:
    """The process to execute: 404 if unknown, 503 if no live worker serves it any more
    (its job would queue for nobody)."""
    found = await state.catalogue.executable(process_id)
    if found is None:
        raise NoSuchProcess(f"no process with id '{process_id}'")
    return found


def no_such_job(job_id: str) -> NoSuchJob:
    return NoSuchJob(f"no job with id '{job_id}'")


def checked_id(job_id: str) -> str:
    """The id of a route, if it can name a job at all (then it is safe in a key)."""
    if not is_job_id(job_id):
        raise no_such_job(job_id)
    return job_id


async def visible_record(state: AppState, job_id: str, request: Request) -> JobRecord:
    """The job, if this caller may see it (404 otherwise, also for other callers' jobs)."""
    caller = authenticate(request, state.auth, execute=False)
    record = await state.jobs.get(checked_id(job_id))
    if record is None or not visible(record.owner, caller):
        raise no_such_job(job_id)
    return record
