"""The scenarios: each drives a running server over HTTP as a plain OGC API - Processes 1.0
client would, and returns a `Result`.

Every server gets the same bytes: a synchronous execution is `Prefer: respond-sync`, an
asynchronous one `Prefer: respond-async` with `"response": "document"`, no vendor fields
in the body and no `Cache-Control` (a user does not send it; inputs are unique where the
cache must not answer). A job's end is seen as a user sees it: by polling `/jobs/{id}`
every `Target.poll_every` seconds (50 ms by default), and every poll is counted
(`TALLY.polls`) so what polling costs can be reported apart. Only `Target.events` (fastproc
alone, `--events`) listens to fastproc's event channel instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Self

import orjson
import redis.asyncio as aioredis
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_fixed

from benchmarks.http import Connection
from benchmarks.measure import Meter, Op, Result, closed_loop, difference, no_meter

SYNC = {"Prefer": "respond-sync"}
ASYNC = {"Prefer": "respond-async"}
TERMINAL = {"successful", "failed", "dismissed"}


@dataclass
class Tally:
    """What the client has asked so far that the scenarios report apart."""

    polls: int = 0


TALLY = Tally()


@dataclass
class Target:
    """A server to drive. `redis_url` and `prefix` (a fastproc server's) let the waiting
    scenarios listen to its events when `events` is set; otherwise they poll."""

    url: str
    redis_url: str | None = None
    prefix: str | None = None
    echo_id: str = "echo"
    batch_upper_id: str = "batch_upper"
    text_stats_id: str = "text_stats"
    poll_every: float = 0.05
    events: bool = False
    warmup: float = 1.0
    meter: Meter = field(default=no_meter)
    #: Unique per run: the input the cache-hit scenarios ask for (warmed once per server).
    cached_value: str = field(default_factory=lambda: f"cached-{uuid.uuid4().hex[:8]}")


def _sync_body(value: str) -> bytes:
    """Echo asked for its `value` output: fastproc's echo describes six outputs and answers
    all of them unless asked for some (OGC's default outputs), the peer's echo has `value`
    alone, so both servers do the same work (as before echo answered every output)."""
    return orjson.dumps({"inputs": {"value": value}, "outputs": {"value": {}}})


async def _status(conn: Connection, job_id: str) -> str | None:
    TALLY.polls += 1
    reply = await conn.request("GET", f"/jobs/{job_id}")
    if reply.status != 200 or not reply.body:
        return None
    return orjson.loads(reply.body).get("status")  # type: ignore[no-any-return]


async def _poll_until_done(conn: Connection, job_id: str, every: float,
                           limit: float = 60.0) -> bool:
    """Wait `every` seconds, ask the job's status, again until it ends (True if successful);
    False after `limit` s, so a job whose status never ends costs an error rather than a
    hung scenario."""
    give_up = time.perf_counter() + limit
    while True:
        await asyncio.sleep(every)
        status = await _status(conn, job_id)
        if status in TERMINAL:
            return status == "successful"
        if time.perf_counter() > give_up:
            return False


async def _submit(conn: Connection, process_id: str, inputs: dict[str, object]) -> str | None:
    body = orjson.dumps({"inputs": inputs, "response": "document"})
    reply = await conn.request("POST", f"/processes/{process_id}/execution", body,
                               headers=ASYNC)
    if reply.status != 201:
        return None
    return str(orjson.loads(reply.body)["jobID"])


class NotReady(Exception):
    """The server answered, but not yet with what the scenarios need."""


@retry(retry=retry_if_exception_type((NotReady, OSError, EOFError)), wait=wait_fixed(0.2),
       stop=stop_after_delay(30), reraise=True)
async def _answers_200(conn: Connection, path: str, body: bytes) -> None:
    """One synchronous execution; a server still starting (404: process not listed yet,
    503) or not accepting connections yet is asked again for up to 30 s."""
    try:
        reply = await conn.request("POST", path, body, headers=SYNC)
    except (OSError, EOFError):
        await conn.close()  # the next try opens a fresh connection
        raise
    if reply.status in (404, 503):
        raise NotReady(f"{reply.status} {reply.body[:200]!r}")
    if reply.status != 200:
        raise RuntimeError(f"POST {path} answered {reply.status}: {reply.body[:300]!r}")


async def warm(t: Target) -> None:
    """One synchronous echo end to end, and the cache entry the cache-hit scenarios ask
    for: the same start for every server. Raises if the server cannot do either."""
    conn = Connection.to(t.url)
    try:
        path = f"/processes/{t.echo_id}/execution"
        await _answers_200(conn, path, _sync_body(f"warm-{uuid.uuid4().hex[:8]}"))
        await _answers_200(conn, path, _sync_body(t.cached_value))
    finally:
        await conn.close()


async def process_list(t: Target, concurrency: int, duration: float) -> Result:
    async def op(conn: Connection, _: int) -> bool:
        return (await conn.request("GET", "/processes")).status == 200

    return _named(await _loop(t, op, concurrency, duration), "process list")


async def sync_echo(t: Target, concurrency: int, duration: float) -> Result:
    tag = uuid.uuid4().hex[:8]

    async def op(conn: Connection, n: int) -> bool:
        reply = await conn.request("POST", f"/processes/{t.echo_id}/execution",
                                   _sync_body(f"{tag}-{n}"), headers=SYNC)
        return reply.status == 200

    return _named(await _loop(t, op, concurrency, duration), "sync echo")


async def cache_hit(t: Target, concurrency: int, duration: float) -> Result:
    """The input `warm` computed once: every request is a hit on every server."""
    body = _sync_body(t.cached_value)

    async def op(conn: Connection, _: int) -> bool:
        reply = await conn.request("POST", f"/processes/{t.echo_id}/execution", body,
                                   headers=SYNC)
        return reply.status == 200

    return _named(await _loop(t, op, concurrency, duration), "cache hit")


async def _job_then_results(conn: Connection, t: Target, process_id: str,
                            inputs: dict[str, object], not_ready: list[int]) -> bool:
    """What an OGC client does with a job: submit, poll until it ends, fetch the results.

    A server that says "successful" before its results can be read answers 404 for a
    moment; the client asks again (up to a second) and counts it in `not_ready`."""
    job_id = await _submit(conn, process_id, inputs)
    if job_id is None or not await _poll_until_done(conn, job_id, t.poll_every):
        return False
    give_up = time.perf_counter() + 1.0
    status = (await conn.request("GET", f"/jobs/{job_id}/results")).status
    if status == 404:
        not_ready[0] += 1
    while status == 404 and time.perf_counter() < give_up:
        await asyncio.sleep(0.01)
        status = (await conn.request("GET", f"/jobs/{job_id}/results")).status
    return status == 200


async def async_end_to_end(t: Target, concurrency: int, duration: float) -> Result:
    """Submit, poll the job until it ends, fetch the results."""
    tag = uuid.uuid4().hex[:8]
    not_ready = [0]

    async def op(conn: Connection, n: int) -> bool:
        return await _job_then_results(conn, t, t.echo_id, {"value": f"{tag}-{n}"}, not_ready)

    result = _named(await _loop(t, op, concurrency, duration), "async end to end", unit="job")
    if not_ready[0]:
        result.extra["results_not_ready"] = not_ready[0]
    return result


#: The status poll scenario made at the clients' pace (`status_poll(every=...)`).
PACED_POLL = "paced status poll"


async def status_poll(t: Target, concurrency: int, duration: float,
                      every: float = 0.0) -> Result:
    """`GET /jobs/{id}` of a finished job: what one status poll costs the server. Back to
    back by default (the most a server answers); with `every`, each client waits that long
    before each poll, as the clients of the async scenario do: what a poll costs when it
    comes alone, which is what the async figures take out ("polls excluded")."""
    conn = Connection.to(t.url)
    try:
        job_id = await _submit(conn, t.echo_id, {"value": f"poll-{uuid.uuid4().hex[:8]}"})
        ended = job_id is not None and await _poll_until_done(conn, job_id, 0.02)
    finally:
        await conn.close()
    if not ended:
        return Result("status poll", "req", 0, 1.0, errors=1)

    async def op(conn: Connection, _: int) -> bool:
        if every:
            await asyncio.sleep(every)
        return await _status(conn, str(job_id)) == "successful"

    return _named(await _loop(t, op, concurrency, duration),
                  PACED_POLL if every else "status poll")


class Completions:
    """Counts terminal events of given jobs on a fastproc server's event channel."""

    def __init__(self, t: Target) -> None:
        assert t.redis_url and t.prefix
        self.client = aioredis.Redis.from_url(t.redis_url)
        self.channel = f"{t.prefix}:events"
        self.wanted: set[str] = set()
        self.ended: dict[str, float] = {}
        self.all_done = asyncio.Event()
        self.submitted_all = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
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
    """Sees jobs end by polling `/jobs/{id}`, as a user waiting for many jobs would.

    Each of `pollers` connections follows the oldest unfinished job it has not yet seen end,
    every `every` seconds, until it ends, then goes straight on to the next one. Queues drain
    roughly in order, so the end of a job is seen within about `every` of when it happens,
    for about one status request per job plus one per `every` of waiting. A job still
    unfinished after `patience` seconds goes to the back of the line, so one stuck job
    cannot hide the others."""

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

    async def __aenter__(self) -> Self:
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
                    status = await _status(conn, job_id)
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


def _completions(t: Target, every: float | None = None,
                 events: bool | None = None) -> Completions | Polls:
    if (t.events if events is None else events) and t.redis_url and t.prefix:
        return Completions(t)
    return Polls(t, every=every or t.poll_every)


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
        before = t.meter()
        start = time.perf_counter()
        ids = await _submit_many(t, t.echo_id, inputs, concurrency, done.watch)
        submitted = time.perf_counter() - start
        done.expect(ids)
        await _wait(done, limit)
        after = t.meter()
        ended = [done.ended[i] for i in ids if i in done.ended]
    seconds = (max(ended) if ended else time.perf_counter()) - start
    latencies = [(end - start) * 1000 for end in ended]
    return Result(f"async burst ({count:,} jobs)", "job", len(ended), seconds, latencies,
                  count - len(ended), {"submit_rate": round(len(ids) / submitted, 1)},
                  spent=difference(before, after))


async def fan_out(t: Target, parts: int, limit: float) -> Result:
    """One batch_upper job of `parts` one-word chunks: submit to successful."""
    words = [f"w{i}" for i in range(parts)]
    async with _completions(t) as done:
        conn = Connection.to(t.url)
        before = t.meter()
        start = time.perf_counter()
        job_id = await _submit(conn, t.batch_upper_id, {"words": words, "chunk": 1})
        await conn.close()
        assert job_id, "the fan-out job was refused"
        done.expect([job_id])
        await _wait(done, limit, stall=limit)
        after = t.meter()
        end = done.ended.get(job_id)
    name = f"fan-out {parts:,} parts"
    if end is None:
        return Result(name, "part", 0, limit, errors=1)
    seconds = end - start
    return Result(name, "part", parts, seconds, [seconds * 1000],
                  extra={"ms_per_part": round(seconds * 1000 / parts, 3)},
                  spent=difference(before, after))


async def scatter(t: Target, concurrency: int, duration: float) -> Result:
    """A 3-step scatter job (3 parallel steps and a merge): submit, poll, fetch results."""
    tag = uuid.uuid4().hex[:8]
    not_ready = [0]

    async def op(conn: Connection, n: int) -> bool:
        return await _job_then_results(conn, t, t.text_stats_id,
                                       {"text": f"the quick {tag} fox {n}"}, not_ready)

    result = _named(await _loop(t, op, concurrency, duration), "scatter (3 steps)", unit="job")
    if not_ready[0]:
        result.extra["results_not_ready"] = not_ready[0]
    return result


async def mixed(t: Target, concurrency: int, duration: float) -> Result:
    """A quarter each: process list, cache hit, sync echo, async job (polled, no results)."""
    tag = uuid.uuid4().hex[:8]
    hit = _sync_body(t.cached_value)

    async def op(conn: Connection, n: int) -> bool:
        kind = n % 4
        if kind == 0:
            return (await conn.request("GET", "/processes")).status == 200
        path = f"/processes/{t.echo_id}/execution"
        if kind == 1:
            return (await conn.request("POST", path, hit, headers=SYNC)).status == 200
        if kind == 2:
            body = _sync_body(f"{tag}-{n}")
            return (await conn.request("POST", path, body, headers=SYNC)).status == 200
        job_id = await _submit(conn, t.echo_id, {"value": f"{tag}-{n}"})
        return job_id is not None and await _poll_until_done(conn, job_id, t.poll_every)

    return _named(await _loop(t, op, concurrency, duration), "mixed")


async def cost_run(t: Target, count: int, concurrency: int, limit: float,
                   pause_workers: Callable[[bool], None]) -> Result:
    """What `count` simple async jobs cost, apart from any status poll: the workers are
    paused (SIGSTOP) while the jobs are submitted, so the submission window holds the API's
    work alone and the run window after it the workers'; the jobs' end is seen on fastproc's
    event channel where the target names it (one SUBSCRIBE, no command per job), else by
    polling slowly (every 100 ms, counted, to
    be subtracted with the status poll scenario's per-poll cost).

    `spent` covers both windows; `extra["submit"]` the submission window alone."""
    tag = uuid.uuid4().hex[:8]
    inputs: list[dict[str, object]] = [{"value": f"{tag}-{i}"} for i in range(count)]
    async with _completions(t, every=0.1, events=True) as done:
        pause_workers(True)
        try:
            start_snapshot = t.meter()
            start = time.perf_counter()
            ids = await _submit_many(t, t.echo_id, inputs, concurrency, lambda _: None)
            submitted = time.perf_counter()
            submit_snapshot = t.meter()
        finally:
            pause_workers(False)
        done.expect(ids)
        await _wait(done, limit)
        end_snapshot = t.meter()
        ended = [done.ended[i] for i in ids if i in done.ended]
    run_seconds = (max(ended) if ended else time.perf_counter()) - submitted
    return Result(f"async cost ({count:,} jobs)", "job", len(ended),
                  submitted - start + run_seconds, errors=count - len(ended),
                  extra={"submit": difference(start_snapshot, submit_snapshot),
                         "submit_rate": round(len(ids) / (submitted - start), 1),
                         "run_rate": round(len(ended) / run_seconds, 1) if run_seconds else 0,
                         "waited_by": "events" if isinstance(done, Completions) else "polls"},
                  spent=difference(start_snapshot, end_snapshot))


async def idle(t: Target, seconds: float) -> Result:
    """Nothing asked: what the stack costs Redis and the CPU while it waits."""
    before = t.meter()
    await asyncio.sleep(seconds)
    return Result("idle stack", "s", max(1, round(seconds)), seconds,
                  spent=difference(before, t.meter()))


async def _loop(t: Target, op: Op, concurrency: int, duration: float) -> Result:
    return await closed_loop(t.url, op, concurrency=concurrency, duration=duration,
                             warmup=t.warmup, meter=t.meter)


def _named(result: Result, name: str, unit: str = "req") -> Result:
    result.scenario = name
    result.unit = unit
    return result
