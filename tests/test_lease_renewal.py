"""A task's claim is a lease: `keep_leases` pushes its expiry back while the task runs, and
stops once the task has ended, so the key of a finished task is not kept alive."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.wire.message import IN_PROGRESS_KEY_PREFIX
from fastproc.worker.arq_loop import keep_leases

LEASE = 3.0


@pytest.mark.anyio
async def test_a_lease_lives_while_its_task_runs_and_lapses_after(redis_url: str,
                                                                  key_prefix: str) -> None:
    redis = connect(Settings(redis_url=redis_url))
    job_id = f"{key_prefix}-lease-{uuid.uuid4().hex}"
    key = IN_PROGRESS_KEY_PREFIX + job_id
    hook = keep_leases(LEASE, shorten_first=True)
    release = asyncio.Event()

    async def task() -> None:
        await hook({"redis": redis, "job_id": job_id})
        await release.wait()

    try:
        await redis.set(key, b"1", px=int(LEASE * 1000))
        running = asyncio.create_task(task())
        # Past two whole leases the key is still there: it was renewed.
        await asyncio.sleep(LEASE * 2.5)
        assert await redis.exists(key), "the lease of a running task lapsed"
        release.set()
        await running
        # Renewed last a third of a lease ago at most: gone one lease and a half later.
        await asyncio.sleep(LEASE * 1.5)
        assert not await redis.exists(key), "a finished task's lease is still renewed"
    finally:
        await redis.delete(key)
        await redis.aclose()
