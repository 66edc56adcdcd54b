"""The scenarios: each drives a running server over HTTP and returns a `Result`.

Waiting for jobs uses the server's own events (`{prefix}:events`) where the harness started
the server, so the client does not flood the API with polls; against a foreign server
(`--url`) it polls `/jobs/{id}`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

from benchmarks.http import Connection
from benchmarks.measure import Result, closed_loop

ASYNC = {"Prefer": "respond-async"}
TERMINAL = {"successful", "failed", "dismissed"}


@dataclass
class Target:
    url: str
    redis_url: str | None = None
    prefix: str | None = None
    echo_id: str = "echo"
    batch_upper_id: str = "batch_upper"
    text_stats_id: str = "text_stats"


async def process_list(t: Target, concurrency: int, duration: float) -> Result:
    async def op(conn: Connection, _: int) -> bool:
        return (await conn.request("GET", "/processes")).status == 200

    return _named(await closed_loop(t.url, op, concurrency=concurrency, duration=duration),
                  "process list")


async def sync_echo(t: Target, concurrency: int, duration: float) -> Result:
    tag = uuid.uuid4().hex[:8]

    async def op(conn: Connection, n: int) -> bool:
        body = orjson.dumps({"inputs": {"value": f"{tag}-{n}"}, "mode": "sync"})
        reply = await conn.request("POST", f"/processes/{t.echo_id}/execution", body)
        return reply.status == 200

    return _named(await closed_loop(t.url, op, concurrency=concurrency, duration=duration),
                  "sync echo")


async def cache_hit(t: Target, concurrency: int, duration: float) -> Result:
    body = orjson.dumps({"inputs": {"value": "cached"}, "mode": "sync"})
    warm = Connection.to(t.url)
    await warm.request("POST", f"/processes/{t.echo_id}/execution", body)
    await warm.close()

    async def op(conn: Connection, _: int) -> bool:
        reply = await conn.request("POST", f"/processes/{t.echo_id}/execution", body)
        return reply.status == 200

    return _named(await closed_loop(t.url, op, concurrency=concurrency, duration=duration),
                  "cache hit")


async def _submit(conn: Connection, process_id: str, inputs: dict[str, object]) -> str | None:
    body = orjson.dumps({"inputs": inputs, "mode": "async", "response": "document"})
    reply = await conn.request("POST", f"/processes/{process_id}/execution", body,
                               headers={**ASYNC, "Cache-Control": "no-cache"})
    if reply.status != 201:
        return None
    return str(orjson.loads(reply.body)["jobID"])


async def _poll_until_done(conn: Connection, job_id: str, every: float = 0.005) -> bool:
    while True:
        reply = await conn.request("GET", f"/jobs/{job_id}")
        status = orjson.loads(reply.body).get("status")
        if status in TERMINAL:
            return bool(status == "successful")
        await asyncio.sleep(every)


async def async_end_to_end(t: Target, concurrency: int, duration: float) -> Result:
    """Submit, poll the job until it ends, fetch the results: what an OGC client does."""
    tag = uuid.uuid4().hex[:8]

    async def op(conn: Connection, n: int) -> bool:
        job_id = await _submit(conn, t.echo_id, {"value": f"{tag}-{n}"})
        if job_id is None or not await _poll_until_done(conn, job_id):
            return False
        return (await conn.request("GET", f"/jobs/{job_id}/results")).status == 200

    return _named(await closed_loop(t.url, op, concurrency=concurrency, duration=duration),
                  "async end to end", unit="job")


class Completions:
    """Counts terminal events of given jobs on the server's event channel."""

    def __init__(self, t: Target) -> None:
        assert t.redis_url and t.prefix
        self.client = aioredis.Redis.from_url(t.redis_url)
        self.channel = f"{t.prefix}:events"
        self.wanted: set[str] = set()
        self.ended: dict[str, float] = {}
        self.all_done = asyncio.Event()
        self.submitted_all = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Completions:
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        await self.pubsub.subscribe(self.channel)
        self._task = asyncio.create_task(self._listen())
        return self

    async def _listen(self) -> None:
        async for message in self.pubsub.listen():
            event = orjson.loads(message["data"])
            if event.get("status") in TERMINAL:
                self.ended.setdefault(event["jobID"], time.perf_counter())
                self._check()

    def _check(self) -> None:
        if self.submitted_all and self.wanted <= self.ended.keys():
            self.all_done.set()

    def expect(self, job_ids: Iterable[str]) -> None:
        self.wanted.update(job_ids)
        self.submitted_all = True
        self._check()

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.pubsub.aclose()
        await self.client.aclose()


async def _submit_many(t: Target, process_id: str, inputs: list[dict[str, object]],
                       concurrency: int) -> list[str]:
    ids: list[str] = []
    queue = list(reversed(inputs))

    async def client() -> None:
        conn = Connection.to(t.url)
        try:
            while queue:
                job_id = await _submit(conn, process_id, queue.pop())
                if job_id:
                    ids.append(job_id)
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return ids


async def burst(t: Target, count: int, concurrency: int, limit: float) -> Result:
    """Submit `count` async jobs as fast as possible, then wait until all have ended."""
    tag = uuid.uuid4().hex[:8]
    inputs: list[dict[str, object]] = [{"value": f"{tag}-{i}"} for i in range(count)]
    async with Completions(t) as done:
        start = time.perf_counter()
        ids = await _submit_many(t, t.echo_id, inputs, concurrency)
        submitted = time.perf_counter() - start
        done.expect(ids)
        await asyncio.wait_for(done.all_done.wait(), limit)
        seconds = max(done.ended[i] for i in ids) - start
    latencies = [(done.ended[i] - start) * 1000 for i in ids]
    return Result("async burst", "job", len(ids), seconds, latencies, count - len(ids),
                  {"submit_rate": round(len(ids) / submitted, 1)})


async def fan_out(t: Target, parts: int, limit: float) -> Result:
    """One batch_upper job of `parts` one-word chunks: submit to successful."""
    words = [f"w{i}" for i in range(parts)]
    async with Completions(t) as done:
        conn = Connection.to(t.url)
        start = time.perf_counter()
        job_id = await _submit(conn, t.batch_upper_id, {"words": words, "chunk": 1})
        await conn.close()
        assert job_id, "the fan-out job was refused"
        done.expect([job_id])
        await asyncio.wait_for(done.all_done.wait(), limit)
        seconds = done.ended[job_id] - start
    return Result(f"fan-out {parts} parts", "part", parts, seconds, [seconds * 1000],
                  extra={"ms_per_part": round(seconds * 1000 / parts, 3)})


async def scatter(t: Target, concurrency: int, duration: float) -> Result:
    tag = uuid.uuid4().hex[:8]

    async def op(conn: Connection, n: int) -> bool:
        job_id = await _submit(conn, t.text_stats_id, {"text": f"the quick {tag} fox {n}"})
        return job_id is not None and await _poll_until_done(conn, job_id)

    return _named(await closed_loop(t.url, op, concurrency=concurrency, duration=duration),
                  "scatter (3 steps)", unit="job")


async def mixed(t: Target, concurrency: int, duration: float) -> Result:
    """A quarter each: process list, cache hit, sync echo, async job."""
    tag = uuid.uuid4().hex[:8]
    hit = orjson.dumps({"inputs": {"value": "cached"}, "mode": "sync"})

    async def op(conn: Connection, n: int) -> bool:
        kind = n % 4
        if kind == 0:
            return (await conn.request("GET", "/processes")).status == 200
        if kind == 1:
            path = f"/processes/{t.echo_id}/execution"
            return (await conn.request("POST", path, hit)).status == 200
        if kind == 2:
            body = orjson.dumps({"inputs": {"value": f"{tag}-{n}"}, "mode": "sync"})
            path = f"/processes/{t.echo_id}/execution"
            return (await conn.request("POST", path, body)).status == 200
        job_id = await _submit(conn, t.echo_id, {"value": f"{tag}-{n}"})
        return job_id is not None and await _poll_until_done(conn, job_id)

    return _named(await closed_loop(t.url, op, concurrency=concurrency, duration=duration),
                  "mixed")


def _named(result: Result, name: str, unit: str = "req") -> Result:
    result.scenario = name
    result.unit = unit
    return result
