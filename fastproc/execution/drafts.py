"""Job management (OGC API - Processes - Part 4, draft 24-051), with no HTTP in it: a job
is defined (`created`), its definition replaced while it is created, then started; a
finished job is defined again from what it ran with (re-run).

A definition is an execute request of Part 3 (`execute-workflows.yaml`) naming its process
in `process`. It is checked by the very step that checks an execution
(`Executor.prepare`), at its creation, at each update and at its start, so it meets the
same errors; the start then submits it as an asynchronous execution of the job's own id,
guarded by the definition's revision: an update that lands first makes the start read the
definition again, so the job runs with one definition, never a mix, and only once.

    drafts = Drafts(executor, settings)
    record = await drafts.create({"process": "echo", "inputs": {"value": 1}}, asked)
    outcome = await drafts.start(record, asked)
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastproc.execution.executor import Executor, Prepared
from fastproc.execution.outcomes import Asked, Outcome
from fastproc.jobs.flow import DraftMoved
from fastproc.ogc.exceptions import (
    InvalidParameterValue,
    JobDismissed,
    JobFinished,
    Locked,
    NoSuchJob,
    TooManyCreatedJobs,
)
from fastproc.ogc.models import StatusCode
from fastproc.settings import Settings
from fastproc.store.record import JobRecord, new_job_id

#: Tries of a start that keeps meeting updates: each lost race means an update landed, so
#: only a caller updating its own job without pause can exhaust them (then 423).
START_TRIES = 8


def process_of(definition: dict[str, Any], base: str) -> str:
    """The process id a definition's `process` names: an id, `processes/{id}`, or the URI
    `{base}/processes/{id}` of a process of this server."""
    uri = definition.get("process")
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterValue("process: a job definition names its process "
                                    "(a process URI or id)")
    if "://" in uri:
        prefix = f"{base}/processes/"
        if not uri.startswith(prefix):
            raise InvalidParameterValue(
                f"process: '{uri}' is not a process of this server ({prefix}{{processID}})")
        process_id = uri[len(prefix):]
    else:
        process_id = uri.lstrip("/").removeprefix("processes/")
    if not process_id or "/" in process_id or "?" in process_id or "#" in process_id:
        raise InvalidParameterValue(f"process: '{uri}' does not name a process")
    return process_id


def definition_of(record: JobRecord, base: str) -> dict[str, Any]:
    """The definition a job was created or last updated with; for a job executed through
    `/processes/{id}/execution`, the execute request it ran with, naming its process."""
    if record.definition is not None:
        return record.definition
    request = record.request
    found: dict[str, Any] = {"process": f"{base}/processes/{record.process_id}",
                             "inputs": request.get("inputs") or {}}
    for member in ("outputs", "response", "subscriber"):
        if request.get(member) is not None:
            found[member] = request[member]
    return found


def merged(definition: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """An update of a definition: each member given replaces the stored one, and a member
    given as null is removed (RFC 7396 at the top level)."""
    result = {**definition, **patch}
    return {k: v for k, v in result.items() if v is not None}


def refusal(job_id: str, status: StatusCode | None) -> Exception:
    """Why a job that is not `created` cannot be updated nor started."""
    if status is None:
        return NoSuchJob(f"no job with id '{job_id}'")
    if status in (StatusCode.ACCEPTED, StatusCode.RUNNING):
        return Locked(f"job {job_id} is {status.value}: it can no longer be changed or "
                      "started")
    if status is StatusCode.DISMISSED:
        return JobDismissed(f"job {job_id} is dismissed")
    return JobFinished(f"job {job_id} is {status.value}: a finished job keeps what it ran "
                       f"with; re-run it (POST /jobs/{job_id}/rerun)")


class Drafts:
    """The job management intents over the execute use case (see the module doc)."""

    def __init__(self, executor: Executor, settings: Settings) -> None:
        self.executor = executor
        self.settings = settings

    async def check(self, definition: dict[str, Any], asked: Asked) -> Prepared:
        """The definition checked as an execution is; nothing is stored."""
        process_id = process_of(definition, asked.base)
        proc = await self.executor.catalogue.executable(process_id)
        if proc is None:
            raise InvalidParameterValue(f"process: no process '{process_id}' on this server")
        request = {k: v for k, v in definition.items() if k != "process"}
        return await self.executor.prepare(proc, request, asked)

    async def create(self, definition: dict[str, Any], asked: Asked) -> JobRecord:
        """A new job, `created` (not started): 429 past the caller's limit."""
        prepared = await self.check(definition, asked)
        job_id = new_job_id()
        process_id = prepared.proc.description.id
        drafted = await self.executor.jobs.create_draft(
            job_id, process_id, definition, prepared.job_request, owner=asked.owner,
            ttl=self.settings.created_job_ttl, limit=self.settings.max_created_per_caller)
        if drafted.full:
            raise TooManyCreatedJobs(
                f"{self.settings.max_created_per_caller} created jobs are waiting to be "
                "started already: start or dismiss some first", headers={"Retry-After": "5"})
        return JobRecord(job_id=job_id, process_id=process_id, status=StatusCode.CREATED,
                         definition=definition, owner=asked.owner, revision=drafted.revision)

    async def update(self, record: JobRecord, patch: dict[str, Any], asked: Asked) -> str:
        """Replace members of a created job's definition; the process id it now runs."""
        if record.status is not StatusCode.CREATED:
            raise refusal(record.job_id, record.status)
        definition = merged(definition_of(record, asked.base), patch)
        prepared = await self.check(definition, asked)
        process_id = prepared.proc.description.id
        if process_id != record.process_id:
            # What a job runs is part of what it is (its listings, its indexes, its caller's
            # view of it): another process is another job.
            raise InvalidParameterValue(
                f"process: job {record.job_id} runs '{record.process_id}' and cannot change to "
                f"'{process_id}'; create a job of '{process_id}' instead (POST /jobs)")
        drafted = await self.executor.jobs.update_draft(
            record.job_id, process_id, definition, prepared.job_request, owner=record.owner,
            ttl=self.settings.created_job_ttl)
        if drafted.revision == 0:
            raise refusal(record.job_id, drafted.status)
        return process_id

    async def start(self, record: JobRecord, asked: Asked) -> Outcome:
        """Start a created job as an asynchronous execution of its definition: once, with
        the definition it has when the start lands (see the module doc)."""
        job_id = record.job_id
        for _ in range(START_TRIES):
            if record.status is not StatusCode.CREATED or record.definition is None:
                raise refusal(job_id, record.status)
            prepared = dataclasses.replace(await self.check(record.definition, asked),
                                           is_async=True)
            try:
                return await self.executor.run(prepared, asked, job_id=job_id,
                                               guard=record.revision)
            except DraftMoved as moved:
                if moved.status is not StatusCode.CREATED:
                    raise refusal(job_id, moved.status) from None
            found = await self.executor.jobs.get(job_id)
            if found is None:
                raise refusal(job_id, None)
            record = found
        raise Locked(f"job {job_id} kept changing while it was being started; try again")
