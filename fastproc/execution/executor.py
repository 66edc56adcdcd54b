"""`Executor`: the one execution intent of the service, whoever asks (the JSON route, the
direct dispatch, the HTML form, a workflow): check the execute request, answer it from the
cache or submit a job, and wait for the job (sync) or not (async), ending in an `Outcome`.

It is built once (in the app's lifespan) from what it needs, passed in: the settings, the
request limits, the catalogue (for workflows), the event hub (the sync wait) and the jobs
service (every job write)."""

from __future__ import annotations

import asyncio
import functools
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
from fastproc.workflows.tree import has_nested


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
        body = (request if isinstance(request, ExecuteRequest)
                else parse_body(request, self.limits, proc))
        if has_nested(body.inputs):  # Part 3 nested processes: a workflow
            return await self.execute_workflow(proc, body, asked)
        proc.validator.validate(body.inputs)
        check_outputs(body, proc)
        check_addresses(body, self.settings)
        is_async = wants_async(body, proc, asked.prefers_async)
        job_request = job_request_of(body)
        process_id = proc.description.id
        digest = None
        lookup = False
        if self._cacheable(proc, body.inputs):
            # Scoped to the caller: another caller's hit would reveal what they submitted.
            digest = cache_digest(process_id, proc.description.version, body.inputs,
                                  job_request["outputs"], body.response.value,
                                  owner=asked.owner)
            # A subscriber must hear from a worker, so it always gets a computed job.
            lookup = not (asked.no_cache or body.subscriber)
        job_id = new_job_id()
        # The cache lookup and the submission are one round trip: a hit creates no job.
        submit = functools.partial(
            self.jobs.submit_unless_cached, process_id, job_request, queue=proc.entry.queue,
            job_id=job_id, cache_key=digest, lookup=lookup, owner=asked.owner)
        if is_async:
            hit = await submit()
            if hit is None:
                return Created(job_id, process_id)
        else:
            async with self.events.watch(job_id) as ended:
                hit = await submit(awaited=True)
                if hit is None:
                    return await self._wait(job_id, job_request, ended)
        assert digest is not None  # only a lookup finds a hit
        return await self._from_cache(process_id, job_request, digest, hit, is_async,
                                      asked.owner)

    async def execute_workflow(self, proc: CataloguedProcess, body: ExecuteRequest,
                               asked: Asked) -> Outcome:
        """A request whose inputs nest execution requests: its whole tree is validated
        before ONE job runs it, synchronously or not as for any execution."""
        nodes = await validated_tree(self.settings, self.catalogue, proc, body, asked.base)
        check_outputs(body, proc)
        check_addresses(body, self.settings)
        is_async = wants_async(body, proc, asked.prefers_async)
        job_request = job_request_of(body)
        job_request["workflow"] = [node.outline() for node in nodes]
        process_id = proc.description.id
        job_id = new_job_id()
        if is_async:
            await self.jobs.flows.submit(process_id, job_request, nodes, job_id=job_id,
                                    owner=asked.owner)
            return Created(job_id, process_id)
        async with self.events.watch(job_id) as ended:
            await self.jobs.flows.submit(process_id, job_request, nodes, job_id=job_id,
                                    owner=asked.owner)
            return await self._wait(job_id, job_request, ended)

    def _cacheable(self, proc: CataloguedProcess, inputs: dict[str, Any]) -> bool:
        """Whether a request may be answered from (and its result written to) the cache:
        references may change behind their URL, and a process may name inputs that want a
        computed run (e.g. a pause)."""
        return self.jobs.cache_enabled and is_cacheable(
            proc.entry.deterministic, proc.entry.uncached_inputs, inputs)

    async def _from_cache(self, process_id: str, job_request: dict[str, Any], digest: str,
                          hit: bytes, is_async: bool, owner: str | None) -> Outcome:
        """A cached result: bare results for a sync request by value; otherwise a job
        created successful with it, since outputs by reference and a status need one."""
        by_reference = any(
            (spec or {}).get("transmissionMode") == "reference"
            for spec in (job_request["outputs"] or {}).values()
        )
        if not is_async and not by_reference:
            return Finished(None, job_request, hit)
        job_id = await self.jobs.submit_cached(process_id, job_request, cache_key=digest,
                                               result=hit, owner=owner)
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
