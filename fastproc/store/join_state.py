"""The join state of a fan-out job in Redis: `{p}:join:{id}` (total, pending, the inputs),
`{p}:join:{id}:items` (part key -> item) and `{p}:join:{id}:parts` (part key -> result).

No worker ever waits for a sibling: the split stores the items once with total = pending = N
and queues the part tasks in one Lua call (`split.lua`); each part stores its result and
counts itself off in one Lua call (`store_part.lua`, a retried part changes nothing), and
the part that sees pending reach 0 queues the merge in that same call. The terminal
transitions of the record delete these keys in the same atomic step. Parts that run or end
together share their reads and their calls (`fastproc.store.batch`).

Every method takes a join id: a job's own (`{job}`), or the fan-out of a workflow's node
(`{job}:node:{n}`, see `fastproc.wire.names.join_of`), whose keys are its own, whose status is
its job's and whose tasks are node tasks. A node's join does not count in the job's progress
(that counts nodes) and is dropped when its node ends (`fastproc.jobs.flow`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from fastproc.ogc.models import StatusCode
from fastproc.store.batch import Batcher
from fastproc.store.record import JobRecord, now_iso
from fastproc.store.scripts import register
from fastproc.wire.enqueue import queued_task
from fastproc.wire.keys import Keys
from fastproc.wire.message import JOB_KEY_PREFIX, TaskEnd
from fastproc.wire.names import (
    is_node_join,
    job_of,
    join_tasks,
    merge_job_id,
    part_job_id,
)


@dataclass(frozen=True, slots=True)
class PartToRun:
    """What a part task needs to know before it runs its item."""

    #: The job is still running (otherwise the part is skipped).
    running: bool
    process_id: str
    #: The part's item (JSON), None if the join state is gone.
    item: bytes | None
    #: The part's result is stored already (a retry after a crash).
    done: bool
    #: The job's inputs as the split stored them, if its parts read them (else None).
    received: dict[str, Any] | None = None
    #: The path of the workflow node whose fan-out this is (None: the job's own).
    node: str | None = None


@dataclass(frozen=True, slots=True)
class PartsForMerge:
    #: How many parts the split made (None: the join state is gone).
    total: int | None
    #: The job's inputs as received, references fetched (None: gone).
    received: dict[str, Any] | None
    #: Part key -> result, in no particular order.
    parts: dict[str, Any]

    @property
    def complete(self) -> bool:
        return self.total is not None and self.received is not None and len(
            self.parts) == self.total


@dataclass(frozen=True, slots=True)
class _PartRead:
    job_id: str
    key: str


@dataclass(frozen=True, slots=True)
class _PartResult:
    job_id: str
    key: str
    result: bytes
    queue: str
    end: TaskEnd | None


class JoinState:
    """Reads and writes the join keys of fan-out jobs (used by `JobService` only)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._split = register(redis, "split")
        self._store_part = register(redis, "store_part")
        self._part_read = register(redis, "part_read")
        self._reads = Batcher(self._send_reads)
        self._results = Batcher(self._send_results)

    def all_keys(self, job_id: str) -> list[str]:
        return [self.keys.join(job_id), self.keys.join_items(job_id),
                self.keys.join_parts(job_id)]

    async def split(self, job_id: str, parts: Sequence[tuple[str, Any]],
                    received: dict[str, Any], *, ttl: int, queue: str,
                    needs_inputs: bool = False, end: TaskEnd | None = None,
                    node: tuple[str, str] | None = None) -> str:
        """Store the items with total = pending = N and queue the part tasks, if the job
        still runs; with no `parts`, only queue again what a split made before lacks (a
        re-run after a crash). One call (`split.lua`); `needs_inputs`: the parts read the
        job's inputs; `end`: the splitting task, finished in the call; `node`: (process
        id, node path) of a workflow node's join. 'split', 'resumed', 'not running', or
        'none' (nothing to resume)."""
        part_task, merge_task = join_tasks(job_id)
        part = queued_task(part_job_id(job_id, ""), part_task)
        merge = queued_task(merge_job_id(job_id), merge_task)
        keys = [self.keys.job(job_of(job_id)), *self.all_keys(job_id), queue]
        if end is not None:
            keys += end.keys
        items = [x for key, item in parts for x in (key, orjson.dumps(item))]
        outcome = await self._split(keys=keys, args=[
            ttl, orjson.dumps(received), JOB_KEY_PREFIX, part_job_id(job_id, ""), part.message,
            merge_job_id(job_id), merge.message, part.ttl_ms, part.score,
            self.keys.wake(queue), end.task_id if end else "", "1" if needs_inputs else "0",
            *(node or ("", "")), *items])
        text: str = outcome.decode()
        if end is not None and text != "none":
            end.done = True
        return text

    async def part_keys(self, job_id: str) -> list[str]:
        """Every part key of a split job (none if it was never split, or has ended)."""
        return [k.decode() for k in await self.redis.hkeys(self.keys.join_items(job_id))]

    async def part_to_run(self, job_id: str, key: str) -> PartToRun:
        """The part's item and whether it must run, and the job's inputs if its parts read
        them (`part_read.lua`, shared with the parts that start meanwhile)."""
        part: PartToRun = await self._reads(_PartRead(job_id, key))
        return part

    async def _send_reads(self, batch: Sequence[_PartRead]) -> list[PartToRun]:
        keys = [key for read in batch for key in (
            self.keys.job(job_of(read.job_id)), self.keys.join_items(read.job_id),
            self.keys.join_parts(read.job_id), self.keys.join(read.job_id))]
        rows = await self._part_read(keys=keys, args=[read.key for read in batch])
        return [PartToRun(running=status == StatusCode.RUNNING.value.encode(),
                          process_id=process_id.decode() if process_id else "", item=item,
                          done=bool(done),
                          received=orjson.loads(received) if received else None,
                          node=node.decode() if node else None)
                for status, process_id, item, done, received, node in rows]

    async def store_part(self, job_id: str, key: str, blob: bytes, *, queue: str,
                         end: TaskEnd | None = None) -> int:
        """Store a part's result if new (then count it off, and queue the merge on `queue`
        if it was the last); the parts still pending, -1 if the join is gone. `end`: the
        part's task, finished in the same call."""
        pending: int = await self._results(_PartResult(job_id, key, blob, queue, end))
        if end is not None:
            end.done = True
        return pending

    async def _send_results(self, batch: Sequence[_PartResult]) -> list[int]:
        keys: list[str] = []
        args: list[Any] = [self.keys.events, now_iso(), len(batch)]
        for one in batch:
            merge = queued_task(merge_job_id(one.job_id), join_tasks(one.job_id)[1])
            keys += [self.keys.join(one.job_id), self.keys.join_parts(one.job_id),
                     self.keys.job(job_of(one.job_id)), one.queue, merge.key]
            if one.end is not None:
                keys += one.end.keys
            args += [one.key, one.result, one.job_id, merge_job_id(one.job_id), merge.message,
                     merge.ttl_ms, merge.score, self.keys.wake(one.queue),
                     one.end.task_id if one.end else "",
                     "0" if is_node_join(one.job_id) else "1"]
        pending: list[int] = await self._store_part(keys=keys, args=args)
        return [int(p) for p in pending]

    async def for_merge(self, job_id: str) -> tuple[JobRecord | None, PartsForMerge]:
        """The job's record and what its merge needs, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.job(job_id))
            pipe.hmget(self.keys.join(job_id), ["total", "inputs"])
            pipe.hgetall(self.keys.join_parts(job_id))
            raw, (total, received), parts = await pipe.execute()
        record = JobRecord.from_hash(job_id, raw) if raw else None
        return record, PartsForMerge(
            total=int(total) if total is not None else None,
            received=orjson.loads(received) if received is not None else None,
            parts={k.decode(): orjson.loads(v) for k, v in parts.items()})

    async def for_node_merge(self, join_id: str) -> tuple[StatusCode | None, PartsForMerge]:
        """The status of the job a node's join belongs to and what its merge needs, in
        one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.job(job_of(join_id)), "status")
            pipe.hmget(self.keys.join(join_id), ["total", "inputs"])
            pipe.hgetall(self.keys.join_parts(join_id))
            status, (total, received), parts = await pipe.execute()
        return StatusCode(status.decode()) if status else None, PartsForMerge(
            total=int(total) if total is not None else None,
            received=orjson.loads(received) if received is not None else None,
            parts={k.decode(): orjson.loads(v) for k, v in parts.items()})

    async def drop(self, join_id: str) -> None:
        """Delete a join's keys (a node's, once the node has ended)."""
        await self.redis.delete(*self.all_keys(join_id))
