"""What the stack underneath allows: a bare FastAPI endpoint, the same doing one Redis
SET + GET, and raw arq draining no-op jobs. Every fastproc figure reads as a share of these."""

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
from benchmarks.measure import Result, closed_loop
from benchmarks.stack import ROOT, answers, free_port, wait_until
from fastproc.queue.enqueue import enqueue_in

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


async def arq_drain(redis_url: str, count: int, *, max_jobs: int, poll_delay: float) -> Result:
    """Raw arq: enqueue `count` no-op jobs, then time one worker draining them (burst)."""
    queue = f"floor:{uuid.uuid4().hex[:6]}"
    redis = ArqRedis.from_url(redis_url)
    for start in range(0, count, 500):
        async with redis.pipeline(transaction=False) as pipe:
            for i in range(start, min(count, start + 500)):
                enqueue_in(pipe, f"{queue}:{i}", queue, function="noop")
            await pipe.execute()
    worker = Worker(functions=[func(_noop, name="noop")], redis_pool=ArqRedis.from_url(redis_url),
                    queue_name=queue, max_jobs=max_jobs, poll_delay=poll_delay, burst=True,
                    handle_signals=False, keep_result=0)
    start_time = time.perf_counter()
    await worker.async_run()
    seconds = time.perf_counter() - start_time
    done = worker.jobs_complete
    await worker.close()
    await redis.aclose()
    return Result(f"floor: raw arq drain (poll {poll_delay}s)", "job", done, seconds)


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
