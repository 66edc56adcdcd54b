"""The job lifecycle as intents: the one writer of a job's keys.

Routes, HTML forms and tasks say what happens to a job — it is submitted (or answered from
the cache), begins, reports progress, is split into parts whose results are stored and
merged once the last one lands, completes, fails, is dismissed — and this service does it:
the record and its indexes, the join state of a fan-out, the result and its cache entry,
the arq tasks of the job (its own, its parts', its merge's), and through `flows` a
workflow's nodes (`fastproc.jobs.flow`). Nothing else writes those keys, and nothing else
holds the service's store: `JobStore` (with `JoinState` and `FlowState`) and `ResultCache`
are its private Redis commands, each store step named for the intent it serves.

    jobs = JobService.connect(redis, keys, job_ttl=3600, active_ttl=3600)
    job_id = await jobs.submit("echo", {"inputs": {...}}, queue="arq:queue")
    record = await jobs.begin(job_id)              # in the worker
    await jobs.complete(record, result, cacheable=True)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

from fastproc.jobs.flow import DraftMoved, WorkflowJobs, too_many
from fastproc.ogc.models import StatusCode
from fastproc.outputs.objects import OutputStore
from fastproc.store.cache_entries import ResultCache
from fastproc.store.job_store import Drafted, JobStore, NewTask, Submitted
from fastproc.store.join_state import PartsForMerge, PartToRun
from fastproc.store.listing import Cursor, JobFilter, JobPage
from fastproc.store.output_index import OutputIndex
from fastproc.store.provenance_log import ProvenanceLog
from fastproc.store.record import JobRecord, new_job_id
from fastproc.store.result_document import (
    EncodedResult,
    StoredOutput,
    object_key,
    object_keys,
)
from fastproc.wire.keys import Keys
from fastproc.wire.message import ClaimStarts, TaskEnd
from fastproc.wire.names import merge_job_id, node_job_id, part_job_id


def check_moved(submitted: Submitted) -> None:
    """Raise `DraftMoved` for a guarded submission the guard refused."""
    if submitted.moved is not None:
        raise DraftMoved(StatusCode(submitted.moved) if submitted.moved else None)


class JobService:
    """Every change to a job, as one call each; reads go through here too. It owns its
    store: nothing else holds one (`connect` builds both)."""

    def __init__(self, store: JobStore, cache: ResultCache,
                 outputs: OutputStore | None = None) -> None:
        self._store = store
        self._cache = cache
        #: The output store of large outputs (None: every output in Redis), and the index
        #: of when its objects are deleted.
        self.outputs = outputs
        self.output_index = OutputIndex(store.redis, store.keys)
        self._provenance = ProvenanceLog(store.redis, store.keys)
        #: The workflow intents (Part 3), over the same store.
        self.flows = WorkflowJobs(store, cache.ttl)

    @classmethod
    def connect(cls, redis: Redis, keys: Keys, *, job_ttl: int, active_ttl: int,
                queue_cap: int = 0, cache_ttl: int = 0,
                outputs: OutputStore | None = None, min_replicas: int = 0) -> JobService:
        return cls(JobStore(redis, keys, job_ttl=job_ttl, active_ttl=active_ttl,
                            queue_cap=queue_cap, min_replicas=min_replicas),
                   ResultCache(redis, keys, cache_ttl), outputs)

    # -- submission ---------------------------------------------------------------------

    @property
    def cache_enabled(self) -> bool:
        return self._cache.enabled

    async def cached(self, digest: str, process_id: str) -> bytes | None:
        """A cached result for this request digest (a hit is counted for /metrics)."""
        return await self._cache.get(digest, process_id)

    async def submit(self, process_id: str, request: dict[str, Any], *, queue: str,
                     job_id: str | None = None, cache_key: str | None = None,
                     owner: str | None = None) -> str:
        """Create the job and queue its task in one round trip; its id. With a queue cap,
        a full queue refuses it with `TooManyJobs` (429). `cache_key` (the request's
        digest) is where a successful result will be cached."""
        job_id = job_id or new_job_id()
        await self.submit_unless_cached(process_id, request, queue=queue, job_id=job_id,
                                        cache_key=cache_key, owner=owner)
        return job_id

    async def submit_unless_cached(self, process_id: str, request: dict[str, Any], *,
                                   queue: str, job_id: str, cache_key: str | None = None,
                                   lookup: bool = False, owner: str | None = None,
                                   awaited: bool = False,
                                   guard: int | None = None) -> bytes | None:
        """Submit the job (its record, indexes, counters and task, one round trip), unless
        `lookup` finds the request's result in the cache under `cache_key`: the cached
        result then, and no job; None once the job is queued. A full queue cap refuses
        the job with `TooManyJobs` (429). `awaited`: the caller waits for the job's end
        event (`EventHub.watch`), which then carries a small result. `guard`: this starts
        the created job `job_id` (Part 4) if it is still at that revision, else
        `DraftMoved`."""
        submitted = await self._store.create(
            job_id, process_id, request, tasks=[NewTask(job_id, queue)], cache_key=cache_key,
            lookup=lookup and self._cache.enabled, owner=owner, awaited=awaited, guard=guard)
        check_moved(submitted)
        if submitted.full:
            raise too_many(process_id, self._store.queue_cap)
        return submitted.hit

    async def submit_cached(self, process_id: str, request: dict[str, Any], *,
                            cache_key: str, result: bytes, owner: str | None = None,
                            job_id: str | None = None, guard: int | None = None) -> str:
        """A job answered from the cache: created `successful` with the cached result
        (`guard` as for `submit_unless_cached`)."""
        job_id = job_id or new_job_id()
        # Its provenance names the job that made the result, written with the record.
        origin = await self._provenance.cache_origin(cache_key)
        facts: dict[str, dict[str, str | bytes | int]] | None = {
            self._store.keys.job_provenance(job_id): {
            "cached_from": orjson.dumps(origin).decode()}} if origin else None
        check_moved(await self._store.create(job_id, process_id, request, cache_key=cache_key,
                                             cached_result=result, owner=owner, guard=guard,
                                             hashes=facts))
        return job_id

    # -- provenance (Part 4) ------------------------------------------------------------

    async def record_provenance(self, job_id: str, facts: dict[str, Any], *,
                                running_ttl: int = 0) -> None:
        """Add facts to the job's provenance (`fastproc.store.provenance_log`). They live
        as long as the job can: its longest run (`running_ttl`, the worker's record TTL)
        and then its TTL once ended."""
        await self._provenance.add(job_id, facts, self._provenance_ttl(running_ttl))

    def _provenance_ttl(self, running_ttl: int) -> int:
        return max(running_ttl, self._store.active_ttl) + self._store.job_ttl

    async def provenance_of(self, job_id: str) -> dict[str, Any]:
        """The provenance facts recorded for the job so far."""
        return await self._provenance.read(job_id)

    # -- job management (Part 4) ----------------------------------------------------------

    async def create_draft(self, job_id: str, process_id: str, definition: dict[str, Any],
                           request: dict[str, Any], *, owner: str | None, ttl: int,
                           limit: int) -> Drafted:
        """A job `created` (defined, not started, no task): its definition as the client
        sent it and the request it will run with; it lives `ttl` seconds unless started.
        `limit`: how many created jobs the owner may hold (0: any number)."""
        return await self._store.draft(job_id, process_id, _draft_fields(
            definition, request, owner), owner=owner, ttl=ttl, limit=limit, update=False)

    async def update_draft(self, job_id: str, process_id: str, definition: dict[str, Any],
                           request: dict[str, Any], *, owner: str | None,
                           ttl: int) -> Drafted:
        """Replace a created job's definition (and its TTL starts again), only while it is
        still created; a start that read the older one is refused (`DraftMoved`)."""
        fields = _draft_fields(definition, request, None)
        fields["processID"] = process_id
        return await self._store.draft(job_id, process_id, fields, owner=owner, ttl=ttl,
                                       limit=0, update=True)

    async def count_dropped(self, queue: str, reason: str) -> None:
        """Count a task a worker dropped unrun from `queue`
        (`fastproc_queue_messages_dropped_total`)."""
        await self._store.count_dropped(queue, reason)

    # -- reading ------------------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord | None:
        return await self._store.get(job_id)

    async def get_status(self, job_id: str) -> tuple[JobRecord, str] | None:
        """The job's status (its record without the request) and a digest of it that
        changes with every change of the record; None if the job is gone."""
        return await self._store.get_status(job_id)

    async def get_with_result(self, job_id: str) -> tuple[JobRecord | None, bytes | None]:
        return await self._store.get_with_result(job_id)

    async def find(self, flt: JobFilter, *, limit: int, offset: int = 0,
                   after: Cursor | None = None, before: Cursor | None = None) -> JobPage:
        """A page of the jobs a filter selects (see `fastproc.store.listing`)."""
        return await self._store.find(flt, limit=limit, offset=offset, after=after,
                                     before=before)

    async def subscriber(self, job_id: str) -> dict[str, Any] | None:
        """The callback URIs the job's execute request gave, if any."""
        request = await self._store.request_of(job_id)
        found = (request or {}).get("subscriber")
        return found if isinstance(found, dict) else None

    async def is_running(self, job_id: str) -> bool:
        return await self._store.status_of(job_id) is StatusCode.RUNNING

    async def load_output(self, job_id: str, name: str) -> bytes | None:
        return await self._store.load_output(job_id, name)

    async def output_size(self, job_id: str, name: str) -> int:
        return await self._store.output_size(job_id, name)

    def stream_output(self, job_id: str, name: str, size: int,
                      chunk: int = 1024 * 1024) -> AsyncIterator[bytes]:
        return self._store.stream_output(job_id, name, size, chunk)

    # Outputs stored apart live in Redis (`output`) or, with an output store, as objects
    # (`object_key` of their stored form): these reads take either.

    def _objects_of(self, stored: StoredOutput) -> tuple[OutputStore, str] | None:
        key = object_key(stored)
        if key is None:
            return None
        if self.outputs is None:
            raise LookupError("this output is in an output store this service has not "
                              "been given (FASTPROC_OUTPUT_STORE)")
        return self.outputs, key

    async def output_present(self, job_id: str, name: str, stored: StoredOutput) -> bool:
        """Whether all of an output stored apart is still there."""
        size = int(stored.get("size", 0))
        found = self._objects_of(stored)
        if found is None:
            return await self._store.output_size(job_id, name) >= size
        held = await found[0].size_of(found[1])
        return held is not None and held >= size

    def output_stream(self, job_id: str, name: str, stored: StoredOutput
                      ) -> AsyncIterator[bytes]:
        """An output stored apart, in chunks: nobody holds all of it."""
        found = self._objects_of(stored)
        if found is None:
            return self._store.stream_output(job_id, name, int(stored.get("size", 0)))
        return found[0].stream(found[1])

    async def output_head(self, job_id: str, name: str, stored: StoredOutput,
                          n: int) -> bytes | None:
        """The first `n` bytes of an output stored apart; None once it is gone."""
        found = self._objects_of(stored)
        if found is not None:
            return await found[0].head_bytes(found[1], n)
        try:
            return b"".join([part async for part in self._store.stream_output(
                job_id, name, n, n)])
        except LookupError:
            return None

    async def output_lifetime(self, stored: StoredOutput) -> float | None:
        """Seconds an output in the output store has left (as its job); None for one in
        Redis or an object no longer indexed."""
        key = object_key(stored)
        until = None if key is None else await self.output_index.until(key)
        return None if until is None else until / 1000 - time.time()

    # -- running ------------------------------------------------------------------------

    async def begin(self, job_id: str, ttl: int = 0) -> JobRecord | None:
        """accepted|running -> running (a re-run after a crash takes over), and the record;
        None if the job is gone. `ttl` extends the record for long time limits."""
        return await self._store.begin(job_id, ttl)

    def claim_starts(self, function: str, max_tries: int, ttl: int = 0) -> ClaimStarts:
        """`begin` made by a worker's claim, for the tasks of `function` it takes: see
        `ClaimStarts`. The task then has its record (`started`) without a round trip."""
        return self._store.claim_starts(function, max_tries, ttl)

    @staticmethod
    def started(job_id: str, raw: list[Any]) -> JobRecord | None:
        """The record a claim's start left (`ClaimStarts`), as `begin` returns it."""
        return JobStore.started(job_id, raw)

    async def report_progress(self, job_id: str, percent: int, message: str | None) -> bool:
        """Progress of a running job; False (nothing written) once it is not running."""
        return await self._store.report_progress(job_id, percent, message)

    async def complete(self, record: JobRecord, result: EncodedResult, *, cacheable: bool,
                       fanned_out: bool = False, end: TaskEnd | None = None,
                       provenance: dict[str, Any] | None = None) -> bool:
        """Store the result, cache it if `cacheable` and the job was submitted with a cache
        key, and mark the job successful (dropping its join state, and a workflow's keys
        with its nested processes' values); False if it had ended.
        `end`: the task that ends with this step, whose arq keys go in the same call.
        `provenance`: the run's facts, kept in the record by the same step (`RUN_FACTS`)."""
        cache_key = (self._store.keys.cache(record.cache_key)
                     if cacheable and record.cache_key and self._cache.enabled
                     and not result.objects else None)
        # The objects live as long as the job will (pushed back before the job holds them:
        # a sweep never deletes an object of a live job).
        await self.output_index.schedule(result.objects,
                                         int((time.time() + self._store.job_ttl) * 1000))
        done = await self._store.complete(
            record.job_id, result, cache_key=cache_key, cache_ttl=self._cache.ttl,
            fanned_out=fanned_out or record.nodes is not None, end=end,
            run_facts=_facts_text(provenance))
        if not done:  # ended (dismissed) meanwhile: nothing will ever point at them
            await self.drop_objects(result.objects)
        return done

    async def drop_objects(self, objects: list[str]) -> None:
        """Delete objects of the output store and take them out of its expiry index."""
        if objects and self.outputs is not None:
            await self.outputs.delete(objects)
            await self.output_index.forget(objects)

    async def fail(self, job_id: str, error: dict[str, Any], *,
                   end: TaskEnd | None = None,
                   provenance: dict[str, Any] | None = None) -> bool:
        """Mark the job failed with this exception document; False if it had ended.
        `end` and `provenance` as for `complete`."""
        return await self._store.fail(job_id, error, end=end, run_facts=_facts_text(provenance))

    # -- fan-out ------------------------------------------------------------------------

    async def resume_split(self, job_id: str, queue: str, *,
                           end: TaskEnd | None = None) -> bool:
        """After a crash: queue again the parts (and the merge) a split made earlier still
        lacks, one call. False if the job was never split (then `end` is not finished)."""
        return await self._store.join.split(job_id, (), {}, ttl=0, queue=queue,
                                           end=end) != "none"

    async def split(self, job_id: str, parts: Sequence[tuple[str, Any]],
                    received: dict[str, Any], *, queue: str, ttl: int,
                    needs_inputs: bool = False, end: TaskEnd | None = None) -> bool:
        """Store the parts' items and queue one task per part (fixed ids, so a re-run never
        queues one twice), if the job still runs, in one call; False if it does not. A
        split made before (a re-run) is resumed instead. `needs_inputs`: the parts read
        the job's inputs (`PartToRun.received`). `end`: the splitting task, whose arq keys
        go in the same call."""
        outcome = await self._store.join.split(job_id, parts, received, ttl=ttl, queue=queue,
                                              needs_inputs=needs_inputs, end=end)
        return outcome != "not running"

    async def part_to_run(self, job_id: str, key: str) -> PartToRun:
        """The part's item and whether it must run, and the job's inputs as the split
        stored them if its parts read them (`PartToRun.received`), one round trip."""
        return await self._store.join.part_to_run(job_id, key)

    async def store_part(self, job_id: str, key: str, result: bytes, queue: str, *,
                         end: TaskEnd | None = None) -> int:
        """Store one part's result (if new) and queue the merge if it was the last, one
        call; how many parts are still pending (-1: the join is gone, the job ended).
        `end`: the part's task, whose arq keys go in the same call."""
        return await self._store.join.store_part(job_id, key, result, queue=queue, end=end)

    async def for_merge(self, job_id: str) -> tuple[JobRecord | None, PartsForMerge]:
        """The job's record and what its merge needs (parts, inputs), one round trip."""
        return await self._store.join.for_merge(job_id)

    # -- dismissal ----------------------------------------------------------------------

    async def dismiss(self, record: JobRecord) -> bool:
        """Dismiss a job whatever its state: stop it if it has not ended, else (or if it
        ended meanwhile) drop its results. False if it was dismissed already (or is gone)."""
        stopped = not record.status.terminal and await self.stop(record)
        objects = []
        if not stopped and self.outputs is not None:
            objects = object_keys((await self._store.get_with_result(record.job_id))[1])
        dismissed = stopped or await self._store.dismiss_finished(record.job_id)
        if dismissed:
            await self.drop_objects(objects)
        # Its log goes with it (after the step: a late write of a dismissed job's log is refused).
        await self._store.drop_logs(record.job_id)
        return dismissed

    async def stop(self, record: JobRecord) -> bool:
        """Dismiss a created, queued or running job and cancel its tasks (its own, its
        parts' and its merge's); False if it had already ended."""
        job_id = record.job_id
        parts = await self._store.join.part_keys(job_id)
        if not await self._store.stop(job_id, record.process_id):
            return False
        if record.status is StatusCode.CREATED:  # never started: no task to cancel
            return True
        nodes = record.nodes.total + 1 if record.nodes else 0  # a workflow's, root included
        await self._store.abort_tasks([job_id, merge_job_id(job_id),
                                       *(part_job_id(job_id, p) for p in parts),
                                       *(node_job_id(job_id, n) for n in range(nodes))])
        return True


def _draft_fields(definition: dict[str, Any], request: dict[str, Any],
                  owner: str | None) -> dict[str, str | bytes]:
    fields: dict[str, str | bytes] = {"definition": orjson.dumps(definition),
                                      "request": orjson.dumps(request)}
    if owner:
        fields["owner"] = owner
    return fields


def _facts_text(facts: dict[str, Any] | None) -> str | None:
    """A run's facts as the record keeps them (`RUN_FACTS`), or None when there are none."""
    return orjson.dumps(facts).decode() if facts else None
