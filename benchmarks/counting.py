"""The round-trip count (`--scenarios roundtrips`): fastproc's API and worker started under
`benchmarks.roundtrips`, which counts every Redis round trip by the module that made it;
then sync echoes, simple async jobs (their end heard on the event channel, so no poll is
among them) and status polls, each divided by how many were made."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson

from benchmarks import roundtrips, scenarios
from benchmarks.http import Connection
from benchmarks.stack import Stack, fastproc_stack

#: label -> process -> module -> round trips per unit
Counts = dict[str, dict[str, dict[str, float]]]


async def _read_all(directory: Path, names: list[str]) -> dict[str, Counter[str]]:
    await asyncio.sleep(0.3)  # the counted processes write every 50 ms: let the last land
    return {name: roundtrips.read(directory / f"{name}.json") for name in names}


def _per_unit(before: dict[str, Counter[str]], after: dict[str, Counter[str]],
              units: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for name, counts in after.items():
        spent = counts - before[name]
        if spent:
            out[name] = {module: n / units for module, n in spent.most_common()}
    return out


async def _sync_echoes(t: scenarios.Target, count: int, concurrency: int) -> int:
    done = 0
    left = list(range(count))

    async def client() -> None:
        nonlocal done
        conn = Connection.to(t.url)
        try:
            while left:
                n = left.pop()
                body = orjson.dumps({"inputs": {"value": f"rt-{uuid.uuid4().hex[:6]}-{n}"}})
                reply = await conn.request("POST", f"/processes/{t.echo_id}/execution", body,
                                           headers=scenarios.SYNC)
                done += reply.status == 200
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return done


async def _async_jobs(t: scenarios.Target, count: int, concurrency: int) -> int:
    tag = uuid.uuid4().hex[:8]
    inputs: list[dict[str, object]] = [{"value": f"{tag}-{i}"} for i in range(count)]
    async with scenarios.Completions(t) as done:
        ids = await scenarios._submit_many(t, t.echo_id, inputs, concurrency, done.watch)
        done.expect(ids)
        await scenarios._wait(done, 120)
        return sum(1 for i in ids if i in done.ended)


async def _polls(t: scenarios.Target, count: int) -> int:
    conn = Connection.to(t.url)
    try:
        job_id = await scenarios._submit(conn, t.echo_id, {"value": uuid.uuid4().hex})
        assert job_id is not None and await scenarios._poll_until_done(conn, job_id, 0.02)
        return sum([await scenarios._status(conn, job_id) == "successful"
                    for _ in range(count)])
    finally:
        await conn.close()


async def _count(stack: Stack, t: scenarios.Target, directory: Path, jobs: int,
                 concurrency: int) -> Counts:
    names = ["api", *(f"worker{i}" for i in range(len(stack.workers)))]
    await scenarios.warm(t)
    out: Counts = {}
    steps: list[tuple[str, Callable[[], Awaitable[int]]]] = [
        ("sync echo, per request", lambda: _sync_echoes(t, jobs // 2, 8)),
        ("simple async job, no polls, per job", lambda: _async_jobs(t, jobs, concurrency)),
        ("status poll, per poll", lambda: _polls(t, 200)),
    ]
    for label, run in steps:
        before = await _read_all(directory, names)
        units = await run()
        out[label] = _per_unit(before, await _read_all(directory, names), units)
    return out


def count_round_trips(redis_url: str, *, workers: int, jobs: int, concurrency: int) -> Counts:
    with tempfile.TemporaryDirectory(prefix="bench-round-trips-") as temporary:
        directory = Path(temporary)
        with fastproc_stack(redis_url, workers=workers, counted=directory) as stack:
            target = scenarios.Target(stack.url, redis_url, stack.prefix)
            return asyncio.run(_count(stack, target, directory, jobs, concurrency))
