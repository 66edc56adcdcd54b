"""fastproc's worker loop on its own: burst mode drains the queue and stops."""

from __future__ import annotations

import uuid

import anyio
import pytest

from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.job_store import JobStore, NewTask
from fastproc.wire.keys import Keys
from fastproc.worker.launch import create_worker


@pytest.mark.anyio
async def test_a_burst_worker_runs_what_is_queued_then_stops(redis_url: str,
                                                             key_prefix: str) -> None:
    prefix = f"{key_prefix}b{uuid.uuid4().hex[:4]}"
    settings = Settings(redis_url=redis_url, key_prefix=prefix, queue_name=f"{prefix}:queue")
    redis = connect(settings)
    store = JobStore(redis, Keys(prefix), job_ttl=60, active_ttl=600)
    job_ids = [uuid.uuid4().hex for _ in range(3)]
    for n, job_id in enumerate(job_ids):
        await store.create(job_id, "add", {"inputs": {"a": n, "b": 1}, "response": "raw"},
                           tasks=[NewTask(job_id, settings.queue_name)])
    worker = create_worker(settings, handle_signals=False)
    worker.burst = True
    with anyio.fail_after(20):
        await worker.async_run()
    await worker.close()
    for n, job_id in enumerate(job_ids):
        record, result = await store.get_with_result(job_id)
        assert record is not None and record.status.value == "successful"
        assert result is not None and b'"value":' in result and str(float(n + 1)).encode() in result
    assert await redis.zcard(settings.queue_name) == 0
    await redis.aclose()
