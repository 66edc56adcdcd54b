"""What `/health` and `/metrics` read from Redis: queue depths, the workers' health reports
and the stats hash. The API's operations routes call these and never Redis.

The health check reads on a connection of its own whose calls time out after
`FASTPROC_HEALTH_TIMEOUT`: a load balancer's probe must hear 503 from a frozen Redis in
about a second, not after the API's own Redis timeout."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from redis.asyncio import Redis

from fastproc.store.job_store import STATS_TTL
from fastproc.wire.keys import Keys


@dataclass(frozen=True, slots=True)
class HealthReading:
    latency_ms: float
    #: Tasks waiting, per queue.
    depths: dict[str, int]
    #: arq's last health report per queue (None: no worker reported lately).
    workers: dict[str, str | None]


@dataclass(frozen=True, slots=True)
class MetricsReading:
    depths: dict[str, int]
    #: The stats hash (decoded).
    stats: dict[str, str]


class Operations:
    """Readings for operators; `health` raises `RedisError` or `OSError` when Redis does
    not answer in time."""

    def __init__(self, redis: Redis, health_redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.health_redis = health_redis
        self.keys = keys

    async def health(self, queues: Iterable[str]) -> HealthReading:
        redis = self.health_redis
        started = time.perf_counter()
        await redis.ping()
        latency_ms = (time.perf_counter() - started) * 1000
        depths = await _depths(redis, queues)
        async with redis.pipeline(transaction=False) as pipe:
            for queue in depths:
                pipe.get(self.keys.health(queue))
            beats = await pipe.execute()
        workers = {queue: beat.decode() if beat else None
                   for queue, beat in zip(depths, beats, strict=True)}
        return HealthReading(latency_ms, depths, workers)

    async def metrics(self, queues: Iterable[str]) -> MetricsReading:
        """Queue depths and the stats hash, whose TTL a scrape renews."""
        depths = await _depths(self.redis, queues)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.stats)
            pipe.expire(self.keys.stats, STATS_TTL)
            raw, _ = await pipe.execute()
        return MetricsReading(depths, {k.decode(): v.decode() for k, v in raw.items()})


async def _depths(redis: Redis, queues: Iterable[str]) -> dict[str, int]:
    ordered = sorted(set(queues))
    async with redis.pipeline(transaction=False) as pipe:
        for queue in ordered:
            pipe.zcard(queue)
        depths = await pipe.execute()
    return dict(zip(ordered, (int(d) for d in depths), strict=True))
