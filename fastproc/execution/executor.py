"""`Executor`: the one execution intent of the service, whoever asks (the JSON route, the
direct dispatch, the HTML form, a workflow): check the execute request, answer it from the
cache or submit a job, and wait for the job (sync) or not (async), ending in an `Outcome`.

It is built once (in the app's lifespan) from what it needs, passed in: the settings, the
request limits, the catalogue (for workflows), the event hub (the sync wait) and the jobs
service (every job write)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastproc.cache_key import cache_digest, is_cacheable
from fastproc.execution.outcomes import Asked, Created, Failed, Finished, Outcome, StillRunning
from fastproc.execution.request import (
    check_addresses,
    check_outputs,
    job_request_of,
    parse_body,
    wants_async,
)
from fastproc.execution.workflow_check import validated_tree
from fastproc.jobs.service import JobService
from fastproc.ogc.exceptions import JobDismissed
from fastproc.ogc.limits import Limits
from fastproc.ogc.models import ExecuteRequest, StatusCode
from fastproc.settings import Settings
from fastproc.store.catalogue import Catalogue, CataloguedProcess
from fastproc.store.event_hub import EventHub, JobEnd
from fastproc.store.record import JobRecord, new_job_id
from fastproc.store.result_document import LINK_BASE
from fastproc.workflows.tree import Node, has_nested


@dataclass(frozen=True, slots=True)
class Prepared:
    """An execution checked and ready to submit (`Executor.prepare`)."""

    proc: CataloguedProcess
    #: What the job's record keeps of the execute request.
    job_request: dict[str, Any]
    #: The workflow's nodes (Part 3), root first; None for a single process.
    nodes: list[Node] | None
    #: The cache digest, when the result may be cached.
    digest: str | None
    #: Whether the cache may answer.
    lookup: bool
    is_async: bool


class Executor:
    """Executes requests for processes of the catalogue (see the module doc)."""

    def __init__(self, settings: Settings, limits: Limits, catalogue: Catalogue,
                 events: EventHub, jobs: JobService) -> None:
        self.settings = settings
        self.limits = limits
        self.catalogue = catalogue
        self.events = events
        self.jobs = jobs

    async def execute(self, proc: CataloguedProcess,
                      request: dict[str, Any] | ExecuteRequest, asked: Asked) -> Outcome:
        """Execute `request` (the JSON body of an execute request, or it parsed) for `proc`.

        Raises the OGC exception of a request that cannot run (`InvalidRequest`,
        `InvalidParameterValue`, `TooManyJobs`…) and `JobDismissed` for a job dismissed
        while a synchronous request waited for it."""
        return await self.run(await self.prepare(proc, request, asked), asked)

    async def prepare(self, proc: CataloguedProcess,
                      request: dict[str, Any] | ExecuteRequest, asked: Asked) -> Prepared:
        """Everything an execution checks before anything is stored: the request parsed
        within the limits, its inputs (or its whole workflow tree) validated, its outputs
        and addresses checked, and its cache digest. A created job (Part 4) is checked by
        this same step at its creation, at each update and at its start."""
        body = (request if isinstance(request, ExecuteRequest)
                else parse_body(request, self.limits, proc))
        nodes = None
        if has_nested(body.inputs):  # Part 3 nested processes: a workflow
            nodes = await validated_tree(self.settings, self.catalogue, proc, body, asked.base)
        else:
            proc.validator.validate(body.inputs)
        check_outputs(body, proc)
        check_addresses(body, self.settings)
        job_request = job_request_of(body)
        if body.subscriber:  # its success callback links to outputs at this URL
            job_request[LINK_BASE] = asked.base
        digest = None
        lookup = False
        if nodes is not None:
            job_request["workflow"] = [node.outline() for node in nodes]
        elif self._cacheable(proc, body.inputs):
            # Scoped to the caller: another caller's hit would reveal what they submitted.
            digest = cache_digest(proc.description.id, proc.description.version, body.inputs,
                                  job_request["outputs"], body.response.value,
                                  owner=asked.owner)
            # A subscriber must hear from a worker, so it always gets a computed job.
            lookup = not (asked.no_cache or body.subscriber)
        return Prepared(proc, job_request, nodes, digest, lookup,
                        wants_async(body, proc, asked.prefers_async))

    async def run(self, prepared: Prepared, asked: Asked, *, job_id: str | None = None,
                  guard: int | None = None) -> Outcome:
        """Submit a prepared execution (or answer it from the cache) and wait for it if
        it is synchronous. `job_id` and `guard`: start the created job of that id (Part 4)
        at that revision (`DraftMoved` if it moved meanwhile)."""
        proc, job_request = prepared.proc, prepared.job_request
        process_id = proc.description.id
        job_id = job_id or new_job_id()
        nodes, digest = prepared.nodes, prepared.digest
        async def submit(awaited: bool = False) -> bytes | None:
            if nodes is not None:
                await self.jobs.flows.submit(process_id, job_request, nodes, job_id=job_id,
                                             owner=asked.owner, guard=guard)
                return None
            # The cache lookup and the submission are one round trip: a hit creates no job.
            return await self.jobs.submit_unless_cached(
                process_id, job_request, queue=proc.entry.queue, job_id=job_id,
                cache_key=digest, lookup=prepared.lookup, owner=asked.owner,
                awaited=awaited, guard=guard)

        if prepared.is_async:
            hit = await submit()
            if hit is None:
                return Created(job_id, process_id)
        else:
            async with self.events.watch(job_id) as ended:
                hit = await submit(awaited=True)
                if hit is None:
                    return await self._wait(job_id, job_request, ended)
        assert digest is not None  # only a lookup finds a hit
        return await self._from_cache(process_id, job_request, digest, hit,
                                      prepared.is_async, asked.owner,
                                      job_id=job_id if guard is not None else None,
                                      guard=guard)

    def _cacheable(self, proc: CataloguedProcess, inputs: dict[str, Any]) -> bool:
        """Whether a request may be answered from (and its result written to) the cache:
        references may change behind their URL, and a process may name inputs that want a
        computed run (e.g. a pause)."""
        return self.jobs.cache_enabled and is_cacheable(
            proc.entry.deterministic, proc.entry.uncached_inputs, inputs)

    async def _from_cache(self, process_id: str, job_request: dict[str, Any], digest: str,
                          hit: bytes, is_async: bool, owner: str | None, *,
                          job_id: str | None = None, guard: int | None = None) -> Outcome:
        """A cached result: bare results for a sync request by value; otherwise a job
        created successful with it, since outputs by reference and a status need one."""
        by_reference = any(
            (spec or {}).get("transmissionMode") == "reference"
            for spec in (job_request["outputs"] or {}).values()
        )
        if not is_async and not by_reference and guard is None:
            return Finished(None, job_request, hit)
        job_id = await self.jobs.submit_cached(process_id, job_request, cache_key=digest,
                                               result=hit, owner=owner, job_id=job_id,
                                               guard=guard)
        if is_async:
            return Created(job_id, process_id, StatusCode.SUCCESSFUL)
        return Finished(job_id, job_request, hit)

    async def _wait(self, job_id: str, job_request: dict[str, Any], ended: JobEnd) -> Outcome:
        """The job's end, heard on the event hub, within `sync_wait`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.sync_wait
        while True:
            remaining = deadline - loop.time()
            # Past the wait, or the server is stopping: the job goes on without this request.
            if remaining <= 0 or self.events.released:
                return await self._still_running(job_id)
            try:
                async with asyncio.timeout(remaining):
                    await ended.wait()
            except TimeoutError:
                return await self._still_running(job_id)
            ended.clear()
            carried = _carried_result(ended)
            if carried is not None:  # the end event brought the result: nothing to read
                return Finished(job_id, job_request, carried)
            record, result = await self.jobs.get_with_result(job_id)
            if record is None or record.status.terminal:
                return _ended(record, result, job_request, job_id)

    async def _still_running(self, job_id: str) -> StillRunning:
        record = await self.jobs.get(job_id)
        if record is None:
            raise JobDismissed(f"job {job_id} is gone")
        return StillRunning(job_id, record)


def _ended(record: JobRecord | None, result: bytes | None, job_request: dict[str, Any],
           job_id: str) -> Outcome:
    """The outcome of a job that ended: its results or its failure."""
    if record is None or record.status is StatusCode.DISMISSED:
        raise JobDismissed(f"job {job_id} was dismissed before it finished")
    if record.status is StatusCode.FAILED:
        return Failed(job_id, record)
    if result is None:
        raise JobDismissed(f"the results of job {job_id} are gone (expired or dismissed)")
    return Finished(job_id, job_request, result)


def _carried_result(ended: JobEnd) -> bytes | None:
    """The result a successful job's end event carried (see `JobEnd`), if it did."""
    payload = ended.payload
    if not payload or payload.get("status") != StatusCode.SUCCESSFUL.value:
        return None
    result = payload.get("result")
    return result.encode() if isinstance(result, str) else None
