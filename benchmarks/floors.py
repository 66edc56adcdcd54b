"""What the stack underneath allows: a bare FastAPI endpoint, the same doing one Redis
SET + GET (served as fastproc's API is: uvicorn on uvloop and httptools), and raw arq
draining no-op jobs. Every figure of a scenario reads as a share of one of these
(`FLOOR_OF`); the raw arq drain also gives the commands and round trips arq itself spends
per job, the part of a worker's round trips that is not fastproc's own bookkeeping."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from arq import func
from arq.connections import ArqRedis
from arq.worker import Worker
from fastapi import FastAPI, Request
from fastapi.responses import Response

from benchmarks.http import Connection
from benchmarks.measure import Meter, Result, closed_loop, difference, no_meter
from benchmarks.stack import ROOT, answers, free_port, wait_until

HTTP_FLOOR = "floor: FastAPI + Redis SET/GET"
ARQ_FLOOR = "floor: raw arq drain"

#: Which floor a scenario reads against, and how many arq jobs one of its units is (a
#: 3-step scatter job is a main task, 3 steps and a merge).
FLOOR_OF: dict[str, tuple[str, int]] = {
    "process list": (HTTP_FLOOR, 1), "sync echo": (HTTP_FLOOR, 1),
    "cache hit": (HTTP_FLOOR, 1), "status poll": (HTTP_FLOOR, 1), "mixed": (HTTP_FLOOR, 1),
    "async end to end": (ARQ_FLOOR, 1), "async burst": (ARQ_FLOOR, 1),
    "fan-out": (ARQ_FLOOR, 1), "scatter": (ARQ_FLOOR, 5), "async cost": (ARQ_FLOOR, 1),
}


def floor_share(scenario: str, rate: float, floors: dict[str, float]) -> float | None:
    """`rate` (units/s) as a share of its floor's rate (arq jobs/s for job scenarios)."""
    for prefix, (floor, jobs) in FLOOR_OF.items():
        if scenario.startswith(prefix) and floors.get(floor):
            return rate * jobs / floors[floor]
    return None


app = FastAPI()
_redis: Any = None


@app.post("/bare")
async def bare(request: Request) -> Response:
    await request.body()
    return Response(b'{"ok":true}', media_type="application/json")


@app.post("/redis")
async def with_redis(request: Request) -> Response:
    global _redis
    if _redis is None:
        _redis = ArqRedis.from_url(os.environ["FLOOR_REDIS_URL"])
    body = await request.body()
    key = f"floor:{uuid.uuid4().hex}"
    await _redis.set(key, body, ex=60)
    value = await _redis.get(key)
    return Response(value or b"", media_type="application/json")


@contextmanager
def floor_server(redis_url: str, fast: bool) -> Iterator[str]:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "benchmarks.floors:app", "--port", str(port),
            "--log-level", "warning"]
    if fast:
        args += ["--loop", "uvloop", "--http", "httptools"]
    else:
        args += ["--loop", "asyncio", "--http", "h11"]
    child = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "FLOOR_REDIS_URL": redis_url},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: answers(port), 20, "the floor server")
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


async def http_floor(url: str, path: str, name: str, concurrency: int,
                     duration: float) -> Result:
    body = orjson.dumps({"inputs": {"value": "x"}})

    async def op(conn: Connection, _: int) -> bool:
        return (await conn.request("POST", path, body)).status == 200

    result = await closed_loop(url, op, concurrency=concurrency, duration=duration)
    result.scenario = name
    return result


async def _noop(ctx: dict[str, Any]) -> None:
    return None


async def arq_drain(redis_url: str, count: int, *, max_jobs: int, poll_delay: float,
                    meter: Meter = no_meter) -> Result:
    """Raw arq: enqueue `count` no-op jobs (arq's own `enqueue_job`), then time one worker
    (in this process) draining them in burst mode; `spent` is what the drain cost."""
    queue = f"floor:{uuid.uuid4().hex[:6]}"
    redis = ArqRedis.from_url(redis_url)
    for start in range(0, count, 100):
        await asyncio.gather(*(redis.enqueue_job("noop", _job_id=f"{queue}:{i}",
                                                 _queue_name=queue)
                               for i in range(start, min(count, start + 100))))
    worker = Worker(functions=[func(_noop, name="noop")], redis_pool=ArqRedis.from_url(redis_url),
                    queue_name=queue, max_jobs=max_jobs, poll_delay=poll_delay, burst=True,
                    handle_signals=False, keep_result=0)
    before = meter()
    start_time = time.perf_counter()
    await worker.async_run()
    seconds = time.perf_counter() - start_time
    spent = difference(before, meter())
    done = worker.jobs_complete
    await worker.close()
    await redis.delete(queue)
    await redis.aclose()
    return Result(f"{ARQ_FLOOR} (poll {poll_delay}s)", "job", done, seconds, spent=spent,
                  extra={"max_jobs": max_jobs})


async def arq_round_trip(redis_url: str, rounds: int, poll_delay: float) -> Result:
    """One arq job at a time, enqueue to finish, with a worker running at `poll_delay`."""
    queue = f"floor:{uuid.uuid4().hex[:6]}"
    redis = ArqRedis.from_url(redis_url)
    worker = Worker(functions=[func(_noop, name="noop")], redis_pool=ArqRedis.from_url(redis_url),
                    queue_name=queue, max_jobs=10, poll_delay=poll_delay, handle_signals=False,
                    keep_result=60)
    task = asyncio.create_task(worker.async_run())
    latencies: list[float] = []
    start = time.perf_counter()
    for _ in range(rounds):
        t0 = time.perf_counter()
        job = await redis.enqueue_job("noop", _queue_name=queue)
        assert job is not None
        await job.result(timeout=10, poll_delay=0.001)
        latencies.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - start
    task.cancel()
    await worker.close()
    await redis.aclose()
    return Result(f"floor: raw arq round trip (poll {poll_delay}s)", "job", rounds, seconds,
                  latencies)
