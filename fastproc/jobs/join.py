"""The join state of a fan-out job in Redis: `{p}:join:{id}` (total, pending, the inputs),
`{p}:join:{id}:items` (part key -> item) and `{p}:join:{id}:parts` (part key -> result).

No worker ever waits for a sibling: the items are stored once with total = pending = N, each
part stores its result and counts itself off in one Lua call (a retried part changes
nothing), and whoever sees pending reach 0 queues the merge (see `JobService.store_part`).
The terminal transitions of the record delete these keys in the same atomic step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from loguru import logger
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from fastproc.jobs.record import now_iso
from fastproc.jobs.scripts import register
from fastproc.keys import Keys
from fastproc.ogc.exceptions import ProcessError
from fastproc.ogc.models import StatusCode

#: Tries of the split's compare-and-set before the job is given up as changing too often.
SPLIT_ATTEMPTS = 5


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


@dataclass(frozen=True, slots=True)
class Unfinished:
    """A split that already happened: the parts without a result, and whether every part
    is counted off (then only the merge is missing)."""

    missing: list[str]
    all_counted: bool


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


class JoinState:
    """Reads and writes the join keys of fan-out jobs (used by `JobService` only)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._store_part = register(redis, "store_part")

    def all_keys(self, job_id: str) -> list[str]:
        return [self.keys.join(job_id), self.keys.join_items(job_id),
                self.keys.join_parts(job_id)]

    async def unfinished(self, job_id: str) -> Unfinished | None:
        """The state of a split made before (a re-run after a crash), or None if none was."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hget(self.keys.join(job_id), "pending")
            pipe.hkeys(self.keys.join_items(job_id))
            pipe.hkeys(self.keys.join_parts(job_id))
            pending, items, done = await pipe.execute()
        if pending is None:
            return None
        missing = sorted(k.decode() for k in set(items) - set(done))
        return Unfinished(missing, all_counted=int(pending) == 0)

    async def split(self, job_id: str, parts: Sequence[tuple[str, Any]],
                    received: dict[str, Any], ttl: int,
                    also: Callable[[Pipeline], None]) -> bool:
        """Store the items with total = pending = N, if the job is still running; `also`
        adds the part tasks to the same transaction. False if the job is not running.

        The record is watched so a dismissal cannot slip in between the status check and
        the split; any other write to it (a progress report, a second begin) means: again.
        """
        job_key = self.keys.job(job_id)
        for _ in range(SPLIT_ATTEMPTS):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(job_key)
                    if await pipe.hget(job_key, "status") != StatusCode.RUNNING.value.encode():
                        return False
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(job_key, mapping={"parts_done": 0, "parts_total": len(parts)})
                    pipe.hset(self.keys.join(job_id), mapping={
                        "total": len(parts), "pending": len(parts),
                        "inputs": orjson.dumps(received)})
                    pipe.hset(self.keys.join_items(job_id),
                              mapping={key: orjson.dumps(item) for key, item in parts})
                    # The parts hash takes this TTL from the join hash when its first part
                    # lands (store_part.lua).
                    for key in (self.keys.join(job_id), self.keys.join_items(job_id)):
                        pipe.expire(key, ttl)
                    also(pipe)
                    await pipe.execute()
                    return True
                except WatchError:
                    logger.info("job {} changed while splitting; trying again", job_id)
        raise ProcessError(f"the job kept changing while it was split ({SPLIT_ATTEMPTS} tries)")

    async def part_keys(self, job_id: str) -> list[str]:
        """Every part key of a split job (none if it was never split, or has ended)."""
        return [k.decode() for k in await self.redis.hkeys(self.keys.join_items(job_id))]

    async def part_to_run(self, job_id: str, key: str) -> PartToRun:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.job(job_id), ["status", "processID"])
            pipe.hget(self.keys.join_items(job_id), key)
            pipe.hexists(self.keys.join_parts(job_id), key)
            (status, process_id), item, done = await pipe.execute()
        return PartToRun(running=status == StatusCode.RUNNING.value.encode(),
                         process_id=process_id.decode() if process_id else "",
                         item=item, done=bool(done))

    async def received(self, job_id: str) -> dict[str, Any] | None:
        """The job's inputs as the split stored them."""
        blob = await self.redis.hget(self.keys.join(job_id), "inputs")
        return orjson.loads(blob) if blob is not None else None

    async def store_part(self, job_id: str, key: str, blob: bytes) -> int:
        """Store a part's result if new (then count it off); the parts still pending, -1
        if the join is gone."""
        keys = self.keys
        pending = await self._store_part(
            keys=[keys.join(job_id), keys.join_parts(job_id), keys.job(job_id)],
            args=[key, blob, keys.events, job_id, now_iso()])
        return int(pending)

    async def parts_for_merge(self, job_id: str) -> PartsForMerge:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(self.keys.join(job_id), ["total", "inputs"])
            pipe.hgetall(self.keys.join_parts(job_id))
            (total, received), parts = await pipe.execute()
        return PartsForMerge(
            total=int(total) if total is not None else None,
            received=orjson.loads(received) if received is not None else None,
            parts={k.decode(): orjson.loads(v) for k, v in parts.items()})
