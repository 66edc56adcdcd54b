"""The dashboard's history in Redis, and the reading of everything the dashboard shows.

What must outlive an API process and be the same on every replica is written where it
happens, in the same Lua steps as the job's own change, so it costs no round trip:

- `{p}:stats:ended:{bucket}:{status}`: jobs that ended per `BUCKET_SECONDS` (one INCR by
  `transition.lua`, the counter lives `BUCKET_TTL`);
- `{p}:stats:failures`: the last `FAILURES_KEPT` failures, newest first (`transition.lua`);
- `started|{process}` in the stats hash: jobs that began (`begin.lua`), so queued and
  running jobs per process are counts, not guesses;
- `{p}:stats:depth:{bucket}`: tasks waiting in the queues, written by whichever dashboard
  reads them in that bucket (one SET per reading, not per viewer);
- `{p}:worker:{id}`: each worker's own figures, renewed by its heartbeat
  (`fastproc.worker.telemetry`).

`Activity.read` gets all of it in two round trips; `fastproc.api.insights` makes figures of it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from fastproc.ogc.models import StatusCode
from fastproc.wire.keys import Keys

#: Width of a throughput bucket, and of the queue-depth chart's steps.
BUCKET_SECONDS = 10
#: How far back the charts look.
WINDOW_SECONDS = 15 * 60
#: Buckets in the window.
BUCKETS = WINDOW_SECONDS // BUCKET_SECONDS
#: How long a bucket's counter lives: the window, and a margin for clocks that disagree.
BUCKET_TTL = WINDOW_SECONDS + 5 * 60
#: Failures kept in the failures list.
FAILURES_KEPT = 20
#: The outcomes the throughput chart shows.
CHARTED = (StatusCode.SUCCESSFUL, StatusCode.FAILED)


def lua_locals() -> str:
    """`ACTIVITY`, the facts above that the Lua steps need (see `fastproc.store.scripts`)."""
    return (f"local ACTIVITY = {{bucket_ms = {BUCKET_SECONDS * 1000}, ttl = {BUCKET_TTL}, "
            f"failures = {FAILURES_KEPT}}}\n")


def bucket_of(ms: int) -> int:
    """The bucket an instant (ms since the epoch) falls in, as the Lua steps number them."""
    return ms // (BUCKET_SECONDS * 1000)


@dataclass(frozen=True, slots=True)
class Failure:
    job_id: str
    process_id: str
    finished: str
    message: str

    @classmethod
    def parse(cls, blob: bytes) -> Failure:
        data: dict[str, Any] = orjson.loads(blob)
        return cls(str(data.get("jobID", "")), str(data.get("processID", "")),
                   str(data.get("finished", "")), str(data.get("message") or ""))


@dataclass(frozen=True, slots=True)
class WorkerFigures:
    """A live worker as its heartbeat last described it (`fastproc.worker.telemetry`)."""

    worker_id: str
    #: Until when (ms) the catalogue counts the worker as live.
    live_until_ms: int
    fields: Mapping[str, str] = field(default_factory=dict)

    def text(self, name: str) -> str:
        return self.fields.get(name, "")

    def number(self, name: str) -> int:
        value = self.fields.get(name, "")
        return int(value) if value.lstrip("-").isdigit() else 0


@dataclass(frozen=True, slots=True)
class Reading:
    """One reading of everything the dashboard shows, as Redis held it at `at_ms`."""

    at_ms: int
    #: The stats hash behind /metrics (decoded).
    stats: Mapping[str, str]
    #: Tasks waiting per queue.
    queue_depths: Mapping[str, int]
    #: bucket -> status -> jobs that ended then, for the last `BUCKETS` buckets.
    ended: Mapping[int, Mapping[str, int]]
    #: bucket -> tasks waiting, where some dashboard read it.
    depths: Mapping[int, int]
    failures: list[Failure]
    workers: list[WorkerFigures]
    #: arq's health report per queue (None: no worker reported lately).
    health: Mapping[str, str | None]

    @property
    def buckets(self) -> range:
        """The buckets of the window, oldest first, the current one last."""
        now = bucket_of(self.at_ms)
        return range(now - BUCKETS + 1, now + 1)


class Activity:
    """Reads the dashboard's figures (and records the queue depth it saw); the live workers
    are the catalogue's (`Keys.processes_workers`)."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def read(self, queues: Iterable[str]) -> Reading:
        at_ms = int(time.time() * 1000)
        queues = sorted(set(queues))
        now = bucket_of(at_ms)
        buckets = range(now - BUCKETS + 1, now + 1)
        counters = [self.keys.ended(b, s.value) for b in buckets for s in CHARTED]
        depth_keys = [self.keys.queue_depth(b) for b in buckets]
        async with self.redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.zcard(queue)
            for queue in queues:
                pipe.get(self.keys.health(queue))
            pipe.hgetall(self.keys.stats)
            pipe.mget(counters + depth_keys)
            pipe.lrange(self.keys.failures, 0, FAILURES_KEPT - 1)
            pipe.zrangebyscore(self.keys.processes_workers, at_ms, "+inf", withscores=True)
            replies = await pipe.execute()
        depths = [int(n) for n in replies[:len(queues)]]
        beats = replies[len(queues):2 * len(queues)]
        stats, values, failures, live = replies[2 * len(queues):]
        workers = await self._workers(live, now, sum(depths))
        counted = values[:len(counters)]
        ended: dict[int, dict[str, int]] = {b: {} for b in buckets}
        for i, value in enumerate(counted):
            if value is not None:
                bucket, status = buckets[i // len(CHARTED)], CHARTED[i % len(CHARTED)]
                ended[bucket][status.value] = int(value)
        sampled = {b: int(v) for b, v in zip(buckets, values[len(counters):], strict=True)
                   if v is not None}
        sampled[now] = sum(depths)
        return Reading(
            at_ms=at_ms,
            stats={k.decode(): v.decode() for k, v in stats.items()},
            queue_depths=dict(zip(queues, depths, strict=True)),
            ended=ended, depths=sampled,
            failures=[Failure.parse(blob) for blob in failures],
            workers=workers,
            health={q: b.decode() if b else None for q, b in zip(queues, beats, strict=True)},
        )

    async def _workers(self, live: list[tuple[bytes, float]], bucket: int,
                       depth: int) -> list[WorkerFigures]:
        """The live workers' own figures; also records the queue depth of this bucket."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for worker_id, _ in live:
                pipe.hgetall(self.keys.worker(worker_id.decode()))
            pipe.set(self.keys.queue_depth(bucket), depth, ex=BUCKET_TTL)
            *records, _ = await pipe.execute()
        return [
            WorkerFigures(worker_id.decode(), int(until),
                          {k.decode(): v.decode() for k, v in record.items()})
            for (worker_id, until), record in zip(live, records, strict=True)
        ]
