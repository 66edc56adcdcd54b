"""The expiry index of the output store: object keys by when they must be deleted.

Redis tells nothing reliable when a key expires, so a job's record expiring would leave its
objects in the store for ever. Each object key is entered here *before* its upload starts
(with the deadline of the upload) and pushed back to the job's own expiry once the job
holds it; the workers' sweep deletes whatever is due, in small batches. A worker killed
mid-upload thus leaves an object that the first sweep after its deadline removes.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.asyncio import Redis

from fastproc.wire.keys import Keys

#: Seconds the index lives past its last deadline: time for the sweeps to reach it.
SWEEP_SLACK = 3600


class OutputIndex:
    """`{p}:outputs:expiry`: object key -> deadline (ms since the epoch)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.key = keys.output_expiry

    async def schedule(self, objects: Sequence[str], until_ms: int) -> None:
        """Delete `objects` at `until_ms` (entered, or moved if entered before)."""
        if not objects:
            return
        # The index itself outlives its last deadline by `SWEEP_SLACK` (every key has a
        # TTL): NX gives a new index one, GT pushes it back.
        ttl = max(1, until_ms // 1000 - int(time.time())) + SWEEP_SLACK
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self.key, dict.fromkeys(objects, until_ms))
            pipe.expire(self.key, ttl, nx=True)
            pipe.expire(self.key, ttl, gt=True)
            await pipe.execute()

    async def until(self, obj: str) -> int | None:
        """When `obj` will be deleted; None if it is not (or no longer) indexed."""
        score = await self.redis.zscore(self.key, obj)
        return None if score is None else int(score)

    async def due(self, now_ms: int, limit: int) -> list[str]:
        """At most `limit` objects whose deadline has passed, oldest first."""
        found: list[bytes] = await self.redis.zrangebyscore(self.key, "-inf", now_ms,
                                                            start=0, num=limit)
        return [member.decode() for member in found]

    async def forget(self, objects: Sequence[str]) -> None:
        """Take deleted objects out of the index (a second sweeper's removal is a no-op)."""
        if objects:
            await self.redis.zrem(self.key, *objects)
