"""A worker's claim starts the jobs of the job tasks it takes (`ClaimStarts`, in
`store/lua/claim.lua`), and only of those that will run: never a task of another function,
an aborted one, one past its tries, one whose message is unreadable, or any task when the
worker starts none."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest
from redis.asyncio import Redis

from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.job_store import JobStore
from fastproc.wire.keys import Keys
from fastproc.wire.message import (
    ABORT_JOBS_SS,
    IN_PROGRESS_KEY_PREFIX,
    JOB_KEY_PREFIX,
    RETRY_KEY_PREFIX,
    ClaimStarts,
    job_message,
    timestamp_ms,
)
from fastproc.wire.names import PART_TASK, RUN_TASK
from fastproc.worker.arq_loop import claim, claim_script

RUNS = RUN_TASK
MAX_TRIES = 3
LEASE_MS = 60_000


@dataclass
class Setup:
    redis: Redis
    keys: Keys
    store: JobStore
    queue: str
    ids: list[str]

    def starts(self) -> ClaimStarts:
        return self.store.claim_starts(RUNS, MAX_TRIES, ttl=120)

    async def queue_task(self, *, function: str = RUNS, message: bytes | None = None,
                         record: bool = True) -> str:
        """A queued task (and, with `record`, its accepted job, counted in the cap)."""
        task_id = f"claim-{uuid.uuid4().hex}"
        self.ids.append(task_id)
        if record:
            await self.redis.hset(self.keys.job(task_id), mapping={
                "status": "accepted", "processID": "echo", "created": "then"})
            await self.redis.expire(self.keys.job(task_id), 60)
            await self.redis.incr(self.keys.queued("echo"))
            await self.redis.expire(self.keys.queued("echo"), 60)
        now = timestamp_ms()
        await self.redis.set(JOB_KEY_PREFIX + task_id,
                             job_message(function, now) if message is None else message,
                             px=60_000)
        await self.redis.zadd(self.queue, {task_id: now - 1})
        return task_id

    async def status(self, task_id: str) -> bytes | None:
        found: bytes | None = await self.redis.hget(self.keys.job(task_id), "status")
        return found


@pytest.fixture
async def setup(redis_url: str, key_prefix: str) -> AsyncIterator[Setup]:
    redis = connect(Settings(redis_url=redis_url))
    keys = Keys(f"{key_prefix}-claim-{uuid.uuid4().hex[:8]}")
    made = Setup(redis, keys, JobStore(redis, keys, job_ttl=60, active_ttl=60, queue_cap=5),
                 f"{keys.prefix}:queue", [])
    try:
        yield made
    finally:
        if made.ids:
            await redis.zrem(ABORT_JOBS_SS, *made.ids)
        await redis.delete(made.queue, keys.stats, keys.queued("echo"), *(
            key for i in made.ids for key in (
                keys.job(i), JOB_KEY_PREFIX + i, IN_PROGRESS_KEY_PREFIX + i,
                RETRY_KEY_PREFIX + i)))
        await redis.aclose()


@pytest.mark.anyio
async def test_the_claim_starts_a_job_task_and_says_so_as_begin_would(setup: Setup) -> None:
    task_id = await setup.queue_task()
    async with setup.redis.pubsub(ignore_subscribe_messages=True) as events:
        await events.subscribe(setup.keys.events)
        [claimed] = await claim(claim_script(setup.redis), setup.queue, 4, lease_ms=LEASE_MS,
                                starts=setup.starts())
        event = None
        async with asyncio.timeout(10):
            while event is None:  # the subscription's confirmation reads as None
                event = await events.get_message(timeout=1)
    assert claimed.task_id == task_id and claimed.job_try == 1 and not claimed.aborted
    assert claimed.started is not None
    record = JobStore.started(task_id, claimed.started)
    assert record is not None and record.status.value == "running"
    # What the task is handed is the record as stored after the start.
    stored = await setup.redis.hgetall(setup.keys.job(task_id))
    assert dict(zip(claimed.started[::2], claimed.started[1::2], strict=True)) == stored
    assert stored[b"started"] and stored[b"started_ms"]
    assert orjson.loads(event["data"])["jobID"] == task_id
    assert orjson.loads(event["data"])["status"] == "running"
    assert await setup.redis.hget(setup.keys.stats, "started|echo") == b"1"
    assert await setup.redis.get(setup.keys.queued("echo")) == b"0"  # its cap place back
    assert await setup.redis.ttl(setup.keys.job(task_id)) > 60  # extended to the run's TTL


@pytest.mark.anyio
async def test_the_claim_starts_no_job_for_a_task_that_will_not_run(setup: Setup) -> None:
    other = await setup.queue_task(function=PART_TASK)
    aborted = await setup.queue_task()
    await setup.redis.zadd(ABORT_JOBS_SS, {aborted: timestamp_ms()})
    spent = await setup.queue_task()
    await setup.redis.set(RETRY_KEY_PREFIX + spent, MAX_TRIES, ex=60)  # this try is one more
    pickled = await setup.queue_task(message=b"\x80\x04\x95\x05\x00\x00\x00\x00")
    not_json_object = await setup.queue_task(message=orjson.dumps(RUNS))
    no_arguments = await setup.queue_task(message=orjson.dumps({"t": None, "f": RUNS,
                                                                 "et": 1}))
    claimed = await claim(claim_script(setup.redis), setup.queue, 8, lease_ms=LEASE_MS,
                          starts=setup.starts())
    by_id = {c.task_id: c for c in claimed}
    assert set(by_id) == {other, aborted, spent, pickled, not_json_object, no_arguments}
    assert by_id[aborted].aborted and by_id[spent].job_try == MAX_TRIES + 1
    for task_id, one in by_id.items():
        assert one.started is None, f"task {task_id} had its job started"
        assert await setup.status(task_id) == b"accepted"
    assert await setup.redis.hget(setup.keys.stats, "started|echo") is None


@pytest.mark.anyio
async def test_a_job_task_whose_record_is_gone_is_claimed_with_an_empty_record(
        setup: Setup) -> None:
    gone = await setup.queue_task(record=False)
    [claimed] = await claim(claim_script(setup.redis), setup.queue, 1, lease_ms=LEASE_MS,
                            starts=setup.starts())
    assert claimed.task_id == gone and claimed.started == []
    assert JobStore.started(gone, claimed.started) is None
    assert not await setup.redis.exists(setup.keys.job(gone))  # not recreated


@pytest.mark.anyio
async def test_a_claim_without_starts_starts_nothing(setup: Setup) -> None:
    task_id = await setup.queue_task()
    [claimed] = await claim(claim_script(setup.redis), setup.queue, 1, lease_ms=LEASE_MS,
                            starts=None)
    assert claimed.task_id == task_id and claimed.started is None
    assert await setup.status(task_id) == b"accepted"


@pytest.mark.anyio
async def test_keys_of_a_task_written_by_hand_do_not_fail_the_claim(setup: Setup) -> None:
    """A try counter that is not a number, or a message key of another type, makes its
    task one the worker drops (try 0, no message), not an error for every task claimed."""
    fine = await setup.queue_task()
    bad_counter = await setup.queue_task()
    await setup.redis.set(RETRY_KEY_PREFIX + bad_counter, "abc", ex=60)
    bad_message = await setup.queue_task()
    await setup.redis.delete(JOB_KEY_PREFIX + bad_message)
    await setup.redis.rpush(JOB_KEY_PREFIX + bad_message, "x")
    await setup.redis.expire(JOB_KEY_PREFIX + bad_message, 60)
    claimed = await claim(claim_script(setup.redis), setup.queue, 8, lease_ms=LEASE_MS,
                          starts=setup.starts())
    by_id = {c.task_id: c for c in claimed}
    assert set(by_id) == {fine, bad_counter, bad_message}
    assert by_id[fine].started is not None and by_id[fine].job_try == 1
    assert by_id[bad_counter].job_try == 0 and by_id[bad_counter].started is None
    assert by_id[bad_message].message is None and by_id[bad_message].started is None
    assert await setup.status(bad_counter) == b"accepted"
    assert await setup.status(bad_message) == b"accepted"
