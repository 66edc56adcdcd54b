"""Reading the result cache of deterministic processes (`{p}:cache:{digest}`).

Entries are written by the worker in the same atomic step that marks a job successful
(`transition.lua`, see `JobService.complete`), so a failed job is never cached. The key's
digest is `fastproc.cache_key.cache_digest`.
"""

from __future__ import annotations

from redis.asyncio import Redis

from fastproc.store.job_store import STATS_TTL
from fastproc.store.scripts import register
from fastproc.wire.keys import Keys


class ResultCache:
    def __init__(self, redis: Redis, keys: Keys, ttl: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl
        self._lookup = register(redis, "cache_lookup")

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def get(self, digest: str, process_id: str) -> bytes | None:
        """The cached result, counting the hit for /metrics."""
        value: bytes | None = await self._lookup(
            keys=[self.keys.cache(digest), self.keys.stats],
            args=[f"cachehit|{process_id}", STATS_TTL])
        return value
