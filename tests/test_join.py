"""The counter-based join against real Valkey, driven by hand: idempotent parts, one merge."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
from arq.constants import job_key_prefix
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastproc.authoring.fanout import FanOutProcess
from fastproc.authoring.registry import Registry
from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.wire.names import merge_job_id, part_job_id
from fastproc.worker.fanout_tasks import (
    run_merge,
    run_part,
    start_fanout,
    store_part_and_merge_when_last,
)
from fastproc.worker.runtime import Runtime

REGISTRY = Registry.from_modules(["workers.examples"])
#: Jobs these tests split: their unconsumed arq part tasks are removed at the end.
CREATED: list[str] = []


def _runtime(redis_url: str, key_prefix: str) -> Runtime:
    prefix = f"{key_prefix}j"
    settings = Settings(redis_url=redis_url, key_prefix=prefix, queue_name=f"{prefix}:queue")
    return Runtime.build(settings, REGISTRY, connect(settings))


async def _running_fanout(rt: Runtime, process_id: str, inputs: dict[str, object]) -> str:
    """A job that is running and split, whose part tasks nobody consumes."""
    job_id = uuid.uuid4().hex
    # Its own task waits on a queue no worker reads.
    await rt.jobs.submit(process_id, {"inputs": inputs, "response": "document"},
                         queue=f"{rt.keys.prefix}:unread:queue", job_id=job_id)
    record = await rt.jobs.begin(job_id)
    assert record is not None and record.status.value == "running"
    proc = rt.registry.get(process_id)
    assert isinstance(proc, FanOutProcess)
    await start_fanout(rt, record, proc, record.request["inputs"])
    CREATED.append(job_id)
    return job_id


@pytest.fixture
async def rt(redis_url: str, key_prefix: str) -> AsyncIterator[Runtime]:
    runtime = _runtime(redis_url, key_prefix)
    yield runtime
    for job_id in CREATED:
        async for key in runtime.redis.scan_iter(match=f"{job_key_prefix}{job_id}*"):
            await runtime.redis.delete(key)
    CREATED.clear()
    await runtime.redis.aclose()


@pytest.mark.anyio
async def test_part_run_twice_by_hand_changes_nothing(rt: Runtime) -> None:
    job_id = await _running_fanout(rt, "batch_upper", {"words": ["a", "b", "c"], "chunk": 1})
    await run_part(rt, part_job_id(job_id, "0"), 1)
    before = (await rt.redis.hgetall(rt.keys.join(job_id)),
              await rt.redis.hgetall(rt.keys.join_parts(job_id)))
    await run_part(rt, part_job_id(job_id, "0"), 2)
    after = (await rt.redis.hgetall(rt.keys.join(job_id)),
             await rt.redis.hgetall(rt.keys.join_parts(job_id)))
    assert before == after
    assert before[0][b"pending"] == b"2"


@pytest.mark.anyio
async def test_last_part_queues_one_merge_and_merge_cleans_up(rt: Runtime) -> None:
    words = ["x", "y", "z", "w"]
    job_id = await _running_fanout(rt, "batch_upper", {"words": words, "chunk": 1})
    merge_key = job_key_prefix + merge_job_id(job_id)
    for index in range(4):
        assert not await rt.redis.exists(merge_key)
        await run_part(rt, part_job_id(job_id, str(index)), 1)
    queued = await rt.redis.get(merge_key)
    assert queued is not None
    await run_part(rt, part_job_id(job_id, "3"), 2)  # a retried last part
    assert await rt.redis.get(merge_key) == queued
    await rt.redis.delete(merge_key)  # the merge runs here, by hand, not by a worker
    await run_merge(rt, merge_job_id(job_id))
    record, result = await rt.jobs.get_with_result(job_id)
    assert record is not None and record.status.value == "successful"
    assert result is not None and b'"X","Y","Z","W"' in result
    for key in (rt.keys.join(job_id), rt.keys.join_items(job_id), rt.keys.join_parts(job_id)):
        assert not await rt.redis.exists(key)


@pytest.mark.anyio
async def test_parts_of_a_dismissed_job_are_skipped(rt: Runtime) -> None:
    job_id = await _running_fanout(rt, "batch_upper", {"words": ["a", "b"], "chunk": 1})
    record = await rt.jobs.get(job_id)
    assert record is not None and await rt.jobs.stop(record)
    await run_part(rt, part_job_id(job_id, "0"), 1)
    await run_part(rt, part_job_id(job_id, "1"), 1)
    assert not await rt.redis.exists(job_key_prefix + merge_job_id(job_id))
    assert not await rt.redis.exists(rt.keys.join_parts(job_id))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(total=st.integers(min_value=1, max_value=8), data=st.data())
def test_pending_counts_distinct_parts_whatever_the_order_and_repeats(
    redis_url: str, key_prefix: str, total: int, data: st.DataObject
) -> None:
    events = data.draw(st.lists(st.integers(min_value=0, max_value=total - 1),
                                min_size=total, max_size=3 * total))
    events += [k for k in range(total) if k not in events]  # every part ends at least once

    async def scenario() -> None:
        rt = _runtime(redis_url, key_prefix)
        try:
            words = [f"w{i}" for i in range(total)]
            job_id = await _running_fanout(rt, "batch_upper", {"words": words, "chunk": 1})
            merge_key = job_key_prefix + merge_job_id(job_id)
            seen: set[int] = set()
            first_merge: bytes | None = None
            for key in events:
                seen.add(key)
                pending = await store_part_and_merge_when_last(
                    rt, job_id, str(key), b'["x"]', rt.settings.queue_name)
                assert pending == total - len(seen)
                queued = await rt.redis.get(merge_key)
                if len(seen) < total:
                    assert queued is None
                elif first_merge is None:
                    first_merge = queued
                assert queued == first_merge  # queued once, never overwritten
            assert first_merge is not None
            keys = rt.keys
            await rt.redis.delete(merge_key, keys.job(job_id), keys.result(job_id),
                                  keys.join(job_id), keys.join_items(job_id),
                                  keys.join_parts(job_id))
            async for part in rt.redis.scan_iter(match=f"{job_key_prefix}{job_id}*"):
                await rt.redis.delete(part)
        finally:
            await rt.redis.aclose()

    anyio.run(scenario)
