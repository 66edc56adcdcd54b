"""Creating a job is one Lua call (`submit.lua`) whatever the job: a queued task, a
workflow's nodes and leaves, or a result from the cache; against real Valkey."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.job_store import JobStore, NewTask
from fastproc.wire.keys import Keys


@pytest.fixture
async def made(redis_url: str, key_prefix: str) -> AsyncIterator[tuple[Redis, JobStore]]:
    redis = connect(Settings(redis_url=redis_url))
    keys = Keys(f"{key_prefix}-create-{uuid.uuid4().hex[:8]}")
    try:
        yield redis, JobStore(redis, keys, job_ttl=60, active_ttl=120, queue_cap=1)
    finally:
        async for key in redis.scan_iter(match=f"{keys.prefix}*"):
            await redis.delete(key)
        await redis.aclose()


@pytest.mark.anyio
async def test_a_big_workflow_is_created_with_every_node(
        made: tuple[Redis, JobStore]) -> None:
    redis, store = made
    job_id = uuid.uuid4().hex
    big = store.keys.flow(job_id).nodes
    submitted = await store.create(job_id, "echo", {"inputs": {}}, hashes={
        big: {str(n): f"node {n}" for n in range(6000)}})
    assert not submitted.full and submitted.hit is None
    assert await redis.hlen(big) == 6000
    assert 0 < await redis.ttl(big) <= 120
    assert await redis.hget(store.keys.job(job_id), "status") == b"accepted"


@pytest.mark.anyio
async def test_a_job_answered_from_the_cache_is_successful_and_takes_no_queue_place(
        made: tuple[Redis, JobStore]) -> None:
    redis, store = made
    queue = f"{store.keys.prefix}:queue"
    await store.create(uuid.uuid4().hex, "echo", {"inputs": {}},
                       tasks=[NewTask("t1", queue)])  # takes the only place
    cached = uuid.uuid4().hex
    submitted = await store.create(cached, "echo", {"inputs": {}}, cached_result=b"{}")
    assert not submitted.full
    record = await store.get(cached)
    assert record is not None and record.status.value == "successful"
    assert await redis.get(store.keys.result(cached)) == b"{}"
    assert 0 < await redis.ttl(store.keys.job(cached)) <= 60
    refused = await store.create(uuid.uuid4().hex, "echo", {"inputs": {}},
                                 tasks=[NewTask("t2", queue)])
    assert refused.full  # the cache's job did not count against the cap


@pytest.mark.anyio
async def test_a_workflow_queues_its_leaves_and_not_its_own_task(
        made: tuple[Redis, JobStore]) -> None:
    redis, store = made
    job_id = uuid.uuid4().hex
    first, second = f"{store.keys.prefix}:a:queue", f"{store.keys.prefix}:b:queue"
    await store.create(job_id, "echo", {"inputs": {}}, fields={"nodes_total": 2},
                       tasks=[NewTask(f"{job_id}:node:1", first, "node"),
                              NewTask(f"{job_id}:node:2", second, "node")])
    assert await redis.zrange(first, 0, -1) == [f"{job_id}:node:1".encode()]
    assert await redis.zrange(second, 0, -1) == [f"{job_id}:node:2".encode()]
    assert await redis.hget(store.keys.job(job_id), "nodes_total") == b"2"
