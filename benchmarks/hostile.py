"""`python -m benchmarks.hostile`: how long `/health` takes to answer while hostile work is in
flight: one 7.7 MB execute body whose `outputs` has 600,000 keys, and 10 callers listing
`/jobs` in parallel while 20,000 jobs of another caller exist (access control on).

A healthy API answers `/health` in milliseconds whatever one request costs: a request that
holds the event loop shows up here as `/health` latency, and a listing that reads every
job in Redis shows up as listing latency."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
import uuid
from typing import Any

import httpx
import orjson

from benchmarks.stack import fastproc_stack, redis_server
from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.job_store import JobStore
from fastproc.wire.keys import Keys

KEYS = "alice:alice-key,bob:bob-key"


async def _fill(redis_url: str, prefix: str, count: int, owner: str) -> None:
    """`count` finished-looking jobs of `owner`, written as the API writes records."""
    settings = Settings(redis_url=redis_url, key_prefix=prefix)
    redis = connect(settings)
    store = JobStore(redis, Keys(prefix), job_ttl=3600, active_ttl=3600)
    try:
        for start in range(0, count, 500):
            await asyncio.gather(*(
                store.create(uuid.uuid4().hex, "echo", {"inputs": {"value": str(i)}},
                             owner=owner)
                for i in range(start, min(count, start + 500))))
    finally:
        await redis.aclose()


def _hostile_body(keys: int) -> bytes:
    return orjson.dumps({"inputs": {"value": "x"},
                         "outputs": {f"o{i:06d}": {} for i in range(keys)}})


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hostile", description=__doc__)
    parser.add_argument("--jobs", type=int, default=20_000, help="jobs of the other caller")
    parser.add_argument("--listers", type=int, default=10)
    parser.add_argument("--output-keys", type=int, default=600_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the window")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    env = {"FASTPROC_API_KEYS": KEYS, "FASTPROC_MAX_BODY_BYTES": str(16 * 1024 * 1024)}
    with redis_server(args.redis_url) as url, fastproc_stack(url, env=env) as stack:
        asyncio.run(_fill(url, stack.prefix, args.jobs, "bob"))
        alice = {"X-API-Key": "alice-key"}
        with httpx.Client(base_url=stack.url, timeout=120, headers=alice) as c:
            c.post("/processes/echo/execution", json={"inputs": {"value": "mine"}})
        body = _hostile_body(args.output_keys)
        stop = threading.Event()
        listings: list[float] = []
        hostile: dict[str, Any] = {}

        def lister() -> None:
            with httpx.Client(base_url=stack.url, timeout=120, headers=alice) as c:
                while not stop.is_set():
                    began = time.perf_counter()
                    c.get("/jobs", params={"limit": 10})
                    listings.append(time.perf_counter() - began)

        def send_hostile() -> None:
            with httpx.Client(base_url=stack.url, timeout=120, headers=alice) as c:
                began = time.perf_counter()
                answer = c.post("/processes/echo/execution", content=body,
                                headers={"Content-Type": "application/json"})
                hostile.update(status=answer.status_code,
                               seconds=time.perf_counter() - began)

        threads = [threading.Thread(target=lister) for _ in range(args.listers)]
        threads.append(threading.Thread(target=send_hostile))
        health: list[float] = []
        with httpx.Client(base_url=stack.url, timeout=120) as probe:
            for thread in threads:
                thread.start()
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                began = time.perf_counter()
                probe.get("/health")
                health.append(time.perf_counter() - began)
                time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join()
    ms = 1000
    print(f"other caller's jobs: {args.jobs}; listers: {args.listers}; "
          f"hostile body: {len(body) / 1e6:.1f} MB -> {hostile.get('status')} "
          f"in {hostile.get('seconds', 0):.2f} s")
    print(f"/health  n={len(health)} p50={statistics.median(health) * ms:.0f} ms "
          f"p95={_percentile(health, 0.95) * ms:.0f} ms max={max(health) * ms:.0f} ms")
    if listings:
        print(f"/jobs    n={len(listings)} p50={statistics.median(listings) * ms:.0f} ms "
              f"p95={_percentile(listings, 0.95) * ms:.0f} ms")


if __name__ == "__main__":
    main()
