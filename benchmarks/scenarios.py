"""The scenarios: each drives a running server over HTTP and returns a `Result`.

Waiting for jobs uses the server's own events (`{prefix}:events`) where the harness started
a fastproc server, so the client does not flood the API with polls; against any other server
(`--url`, `--compare`, `--poll`) it polls `/jobs/{id}` of the oldest unfinished jobs with a
few connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis

from benchmarks.http import Connection
from benchmarks.measure import Op, Result, closed_loop

ASYNC = {"Prefer": "respond-async"}
TERMINAL = {"successful", "failed", "dismissed"}


@dataclass
class Target:
    """A server to drive. `redis_url` and `prefix` (a fastproc server's) let the burst and
    fan-out scenarios listen to its events; without them they poll. `sync_headers` go with
    every synchronous execution (some servers run a job synchronously only when asked with
    `Prefer: respond-sync`)."""

    url: str
    redis_url: str | None = None
    prefix: str | None = None
    echo_id: str = "echo"
    batch_upper_id: str = "batch_upper"
    text_stats_id: str = "text_stats"
    sync_headers: dict[str, str] = field(default_factory=dict)


async def process_list(t: Target, concurrency: int, duration: float) -> Result:
    async def op(conn: Connection, _: int) -> bool:
        return (await conn.request("GET", "/processes")).status == 200

    return _named(await _loop(t, op, concurrency, duration),
                  "process list")


async def sync_echo(t: Target, concurrency: int, duration: float) -> Result:
    tag = uuid.uuid4().hex[:8]

    async def op(conn: Connection, n: int) -> bool:
        body = orjson.dumps({"inputs": {"value": f"{tag}-{n}"}, "mode": "sync"})
        reply = await conn.request("POST", f"/processes/{t.echo_id}/execution", body,
                                   headers=t.sync_headers)
        return reply.status == 200

    return _named(await _loop(t, op, concurrency, duration),
                  "sync echo")


async def cache_hit(t: Target, concurrency: int, duration: float) -> Result:
    body = orjson.dumps({"inputs": {"value": "cached"}, "mode": "sync"})
    warm = Connection.to(t.url)
    await warm.request("POST", f"/processes/{t.echo_id}/execution", body,
                       headers=t.sync_headers)
    await warm.close()

    async def op(conn: Connection, _: int) -> bool:
        reply = await conn.request("POST", f"/processes/{t.echo_id}/execution", body,
                                   headers=t.sync_headers)
        return reply.status == 200

    return _named(await _loop(t, op, concurrency, duration),
                  "cache hit")


async def _submit(conn: Connection, process_id: str, inputs: dict[str, object]) -> str | None:
    body = orjson.dumps({"inputs": inputs, "mode": "async", "response": "document"})
    reply = await conn.request("POST", f"/processes/{process_id}/execution", body,
                               headers={**ASYNC, "Cache-Control": "no-cache"})
    if reply.status != 201:
        return None
    return str(orjson.loads(reply.body)["jobID"])


async def _poll_until_done(conn: Connection, job_id: str, every: float = 0.005,
                           limit: float = 30.0) -> bool:
    """Poll the job's status until it ends (True if successful); False after `limit` s, so
    a job whose status never ends costs an error rather than a hung scenario."""
    give_up = time.perf_counter() + limit
    while True:
        reply = await conn.request("GET", f"/jobs/{job_id}")
        status = orjson.loads(reply.body).get("status")
        if status in TERMINAL:
            return bool(status == "successful")
        if time.perf_counter() > give_up:
            return False
        await asyncio.sleep(every)


async def async_end_to_end(t: Target, concurrency: int, duration: float) -> Result:
    """Submit, poll the job until it ends, fetch the results: what an OGC client does.

    A server that says "successful" before its results can be read answers 404 for a
    moment; the client asks again (up to a second) and the count of such jobs is reported
    as `results_not_ready`."""
    tag = uuid.uuid4().hex[:8]
    not_ready = 0

    async def op(conn: Connection, n: int) -> bool:
        nonlocal not_ready
        job_id = await _submit(conn, t.echo_id, {"value": f"{tag}-{n}"})
        if job_id is None or not await _poll_until_done(conn, job_id):
            return False
        give_up = time.perf_counter() + 1.0
        status = (await conn.request("GET", f"/jobs/{job_id}/results")).status
        if status == 404:
            not_ready += 1
        while status == 404 and time.perf_counter() < give_up:
            await asyncio.sleep(0.005)
            status = (await conn.request("GET", f"/jobs/{job_id}/results")).status
        return status == 200

    result = _named(await _loop(t, op, concurrency, duration),
                    "async end to end", unit="job")
    if not_ready:
        result.extra["results_not_ready"] = not_ready
    return result


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

    def watch(self, job_id: str) -> None:
        """A job was submitted (events of all jobs are heard anyway)."""

    def expect(self, job_ids: Iterable[str]) -> None:
        self.wanted.update(job_ids)
        self.submitted_all = True
        self._check()

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.pubsub.aclose()
        await self.client.aclose()


class Polls:
    """Sees jobs end by polling `/jobs/{id}`, for servers without an event channel.

    Each of `pollers` connections follows the oldest unfinished job it has not yet seen end,
    every `every` seconds, until it ends, then goes straight on to the next one. Queues drain
    roughly in order, so the end of a job is seen within about `every` of when it happens,
    for about one status request per job plus one per `every` of waiting: the polls take
    little from the server being measured. A job still unfinished after `patience` seconds
    goes to the back of the line, so one stuck job cannot hide the others."""

    def __init__(self, t: Target, pollers: int = 1, every: float = 0.05,
                 patience: float = 2.0) -> None:
        self.url = t.url
        self.pollers, self.every, self.patience = pollers, every, patience
        self.pending: deque[str] = deque()
        self.wanted: set[str] = set()
        self.ended: dict[str, float] = {}
        self.all_done = asyncio.Event()
        self.submitted_all = False
        self._arrived = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Polls:
        self._tasks = [asyncio.create_task(self._poll()) for _ in range(self.pollers)]
        return self

    async def _poll(self) -> None:
        conn = Connection.to(self.url)
        try:
            while True:
                if not self.pending:
                    self._arrived.clear()
                    await self._arrived.wait()
                    continue
                job_id = self.pending.popleft()
                give_up = time.perf_counter() + self.patience
                while True:
                    reply = await conn.request("GET", f"/jobs/{job_id}")
                    status = orjson.loads(reply.body).get("status") if reply.body else None
                    if status in TERMINAL:
                        self.ended.setdefault(job_id, time.perf_counter())
                        self._check()
                        break
                    if time.perf_counter() > give_up:
                        self.pending.append(job_id)
                        break
                    await asyncio.sleep(self.every)
        finally:
            await conn.close()

    def _check(self) -> None:
        if self.submitted_all and self.wanted <= self.ended.keys():
            self.all_done.set()

    def watch(self, job_id: str) -> None:
        if job_id not in self.wanted:
            self.wanted.add(job_id)
            self.pending.append(job_id)
            self._arrived.set()

    def expect(self, job_ids: Iterable[str]) -> None:
        for job_id in job_ids:
            self.watch(job_id)
        self.submitted_all = True
        self._check()

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _completions(t: Target, every: float = 0.05) -> Completions | Polls:
    return Completions(t) if t.redis_url and t.prefix else Polls(t, every=every)


async def _submit_many(t: Target, process_id: str, inputs: list[dict[str, object]],
                       concurrency: int, submitted: Callable[[str], None]) -> list[str]:
    ids: list[str] = []
    queue = list(reversed(inputs))

    async def client() -> None:
        conn = Connection.to(t.url)
        try:
            while queue:
                job_id = await _submit(conn, process_id, queue.pop())
                if job_id:
                    ids.append(job_id)
                    submitted(job_id)
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return ids


async def _wait(done: Completions | Polls, limit: float, stall: float = 20.0) -> None:
    """Until every expected job has ended; at most `limit` seconds, and at most `stall`
    seconds in which no job ends (the jobs left count as errors)."""
    give_up = time.perf_counter() + limit
    seen, last_change = len(done.ended), time.perf_counter()
    while not done.all_done.is_set():
        now = time.perf_counter()
        if now > give_up or now - last_change > stall:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.all_done.wait(), min(1.0, give_up - now))
        if len(done.ended) != seen:
            seen, last_change = len(done.ended), time.perf_counter()


async def burst(t: Target, count: int, concurrency: int, limit: float) -> Result:
    """Submit `count` async jobs as fast as possible, then wait until all have ended."""
    tag = uuid.uuid4().hex[:8]
    inputs: list[dict[str, object]] = [{"value": f"{tag}-{i}"} for i in range(count)]
    async with _completions(t) as done:
        start = time.perf_counter()
        ids = await _submit_many(t, t.echo_id, inputs, concurrency, done.watch)
        submitted = time.perf_counter() - start
        done.expect(ids)
        await _wait(done, limit)
        ended = [done.ended[i] for i in ids if i in done.ended]
    seconds = (max(ended) if ended else time.perf_counter()) - start
    latencies = [(end - start) * 1000 for end in ended]
    return Result("async burst", "job", len(ended), seconds, latencies, count - len(ended),
                  {"submit_rate": round(len(ids) / submitted, 1)})


async def fan_out(t: Target, parts: int, limit: float) -> Result:
    """One batch_upper job of `parts` one-word chunks: submit to successful."""
    words = [f"w{i}" for i in range(parts)]
    async with _completions(t, every=0.02) as done:
        conn = Connection.to(t.url)
        start = time.perf_counter()
        job_id = await _submit(conn, t.batch_upper_id, {"words": words, "chunk": 1})
        await conn.close()
        assert job_id, "the fan-out job was refused"
        done.expect([job_id])
        await _wait(done, limit, stall=limit)
        end = done.ended.get(job_id)
    if end is None:
        return Result(f"fan-out {parts} parts", "part", 0, limit, errors=1)
    seconds = end - start
    return Result(f"fan-out {parts} parts", "part", parts, seconds, [seconds * 1000],
                  extra={"ms_per_part": round(seconds * 1000 / parts, 3)})


async def scatter(t: Target, concurrency: int, duration: float) -> Result:
    tag = uuid.uuid4().hex[:8]

    async def op(conn: Connection, n: int) -> bool:
        job_id = await _submit(conn, t.text_stats_id, {"text": f"the quick {tag} fox {n}"})
        return job_id is not None and await _poll_until_done(conn, job_id)

    return _named(await _loop(t, op, concurrency, duration),
                  "scatter (3 steps)", unit="job")


async def mixed(t: Target, concurrency: int, duration: float) -> Result:
    """A quarter each: process list, cache hit, sync echo, async job."""
    tag = uuid.uuid4().hex[:8]
    hit = orjson.dumps({"inputs": {"value": "cached"}, "mode": "sync"})

    async def op(conn: Connection, n: int) -> bool:
        kind = n % 4
        if kind == 0:
            return (await conn.request("GET", "/processes")).status == 200
        path = f"/processes/{t.echo_id}/execution"
        if kind == 1:
            return (await conn.request("POST", path, hit, headers=t.sync_headers)).status == 200
        if kind == 2:
            body = orjson.dumps({"inputs": {"value": f"{tag}-{n}"}, "mode": "sync"})
            return (await conn.request("POST", path, body, headers=t.sync_headers)).status == 200
        job_id = await _submit(conn, t.echo_id, {"value": f"{tag}-{n}"})
        return job_id is not None and await _poll_until_done(conn, job_id)

    return _named(await _loop(t, op, concurrency, duration),
                  "mixed")


async def _loop(t: Target, op: Op, concurrency: int, duration: float) -> Result:
    """`closed_loop`, also counting every operation started, warm-up included, as
    `extra["ops_started"]`: what the Redis commands spent in the scenario are divided by."""
    started = 0

    async def counted(conn: Connection, n: int) -> bool:
        nonlocal started
        started += 1
        return await op(conn, n)

    result = await closed_loop(t.url, counted, concurrency=concurrency, duration=duration)
    result.extra["ops_started"] = started
    return result


def _named(result: Result, name: str, unit: str = "req") -> Result:
    result.scenario = name
    result.unit = unit
    return result
