"""The one module that knows arq beyond its documented surface: fastproc's worker loop.

fastproc runs its tasks on arq's `Worker`. Everything that depends on arq's internals —
private methods and attributes of `Worker`, its key layout (`arq_format`) — is here, and
`tests/test_arq_contract.py` pins each of them, so an arq upgrade that changes one fails
that test with the name of what changed instead of losing jobs.

Why not arq's own loop: it claims jobs one at a time (WATCH, EXISTS, ZSCORE, MULTI,
PSETEX, EXEC: four round trips per job) and polls every `poll_delay`. `NudgedWorker` claims
up to its free capacity in one Lua call (`lua/claim.lua`), enqueuers publish a nudge on
`{p}:wake:{queue}` so an idle worker starts at once, and the poll delay becomes a fallback
that costs a few commands per second when idle.

A claim is a lease, on either loop: arq's in-progress key lives `lease` seconds and
`keep_leases` (arq's public `on_job_start` hook) renews it every third of that while the
task runs, so a task whose worker died runs again within one lease, however long its time
limit (arq alone keeps the key for the longest time limit, which is also how long a crashed
worker's task would wait). Everything else — running jobs, retries, aborts, timeouts,
health checks, signals — is arq's unchanged, and `arq fastproc.WorkerSettings` runs arq's
own loop with the same tasks and hooks (`fastproc.queue.worker`).

arq internals used (each checked by the contract test):
- `Worker.main` (overridden), `Worker._poll_iteration` (overridden),
  `Worker._cancel_aborted_jobs`, `Worker._release_sem_dec_counter_on_complete`,
  `Worker.run_job(job_id, score)`, `Worker.heart_beat`;
- `Worker.run_job` awaits `on_job_start` in the task that runs the job (`keep_leases`
  ties the renewal to that task);
- `Worker` state: `tasks`, `job_counter`, `max_jobs`, `sem`, `allow_pick_jobs`,
  `allow_abort_jobs`, `poll_delay_s`, `burst`, `pool`, `ctx`, `loop`, `on_startup`,
  `functions`, `queue_name`;
- the key layout and message format in `arq_format`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry, func
from arq.connections import ArqRedis, RedisSettings, log_redis_info
from arq.worker import Worker
from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from fastproc.pubsub import listen_forever
from fastproc.queue.arq_format import IN_PROGRESS_KEY_PREFIX, dump_job, load_job, timestamp_ms
from fastproc.queue.lua import lua
from fastproc.redis import connection_options, redis_url
from fastproc.settings import Settings

__all__ = ["JobHook", "NudgedWorker", "RedisSettings", "Retry", "Worker", "connect_worker", "func",
           "keep_leases"]

#: An arq hook on a job (`on_job_start` and friends): called with the job's context.
JobHook = Callable[[dict[str, Any]], Awaitable[None]]

#: Queue entries one claim looks at, at most (jobs running elsewhere are skipped over).
CLAIM_SCAN = 4096

#: Seconds between checks of arq's abort set while jobs run.
ABORT_CHECK_INTERVAL = 0.1


def connect_worker(settings: Settings, *, socket_timeout: float | None = None) -> ArqRedis:
    """The worker's connection: an `ArqRedis` (arq's `Worker` expects one) with fastproc's
    options, reading and writing arq's messages as JSON.

    No read timeout by default, as arq's own pools: a cancelled read under `asyncio.timeout`
    can lose the cancellation on Python 3.11 and leave a stopping worker running. Dead peers
    are still noticed (TCP keepalive, health checks, connect timeout).
    """
    client: ArqRedis = ArqRedis.from_url(
        redis_url(settings), **connection_options(settings, socket_timeout=socket_timeout))
    client.job_serializer = dump_job
    client.job_deserializer = load_job
    return client


def keep_leases(lease: float, *, shorten_first: bool) -> JobHook:
    """arq's `on_job_start` hook that makes the running task's in-progress key a lease of
    `lease` seconds, renewed every third of that until the task ends (see the module doc).

    `NudgedWorker` claims with the lease already set; arq's own loop sets the key for its
    longest time limit, so there the first renewal comes at once (`shorten_first`).
    """
    lease_ms = int(lease * 1000)

    async def on_job_start(ctx: dict[str, Any]) -> None:
        redis: Redis = ctx["redis"]
        key = IN_PROGRESS_KEY_PREFIX + ctx["job_id"]
        if shorten_first:
            await redis.pexpire(key, lease_ms)
        renewal = asyncio.create_task(_renew(redis, key, lease_ms), name=f"lease {key}")
        # arq awaits this hook in the task that runs the job: the renewal ends with it, however
        # it ends (done, failed, aborted, cancelled at shutdown).
        running = asyncio.current_task()
        assert running is not None
        running.add_done_callback(lambda _: renewal.cancel())

    return on_job_start


async def _renew(redis: Redis, key: str, lease_ms: int) -> None:
    """Push the key's expiry back every third of the lease; a key already gone (the task
    ended meanwhile) is not recreated. A failed renewal is tried again at the next turn."""
    while True:
        await asyncio.sleep(lease_ms / 3000)
        try:
            await redis.pexpire(key, lease_ms)
        except (RedisError, OSError) as exc:
            logger.warning("cannot renew the lease {} ({})", key, exc)


def _log_poll_failure(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning("cannot poll the queue ({}); retrying in {:.1f}s", exc, wait)


class NudgedWorker(Worker):
    """An arq `Worker` that claims in batches and wakes on nudges (see the module doc)."""

    def __init__(self, *args: Any, wake_channel: str, listener: Redis, lease: float,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lease_ms = int(lease * 1000)
        self._wake = asyncio.Event()
        self._wake_channel = wake_channel
        self._listener = listener
        self._saturated = False
        self._last_abort_check = 0.0
        self._claim_script: Any = None
        # Redis went away: keep the jobs we run, poll again with backoff until it is back.
        self._poll_retrying = AsyncRetrying(
            retry=retry_if_exception_type((RedisError, OSError)),
            wait=wait_exponential(multiplier=0.1, max=5.0), before_sleep=_log_poll_failure)

    async def main(self) -> None:
        logger.info("worker for {} on queue {}", ", ".join(self.functions), self.queue_name)
        await log_redis_info(self.pool, logger.info)
        self.ctx["redis"] = self.pool
        self._claim_script = self.pool.register_script(lua("claim"))
        if self.on_startup:
            await self.on_startup(self.ctx)
        nudges = asyncio.create_task(self._listen_for_nudges(), name="fastproc-nudges")
        try:
            while True:
                await self._poll_retrying(self._poll_iteration)
                if self.burst and not self.tasks and not await self.pool.zcard(self.queue_name):
                    return  # burst mode (as arq's): stop once the queue is drained
                if self._saturated:
                    await asyncio.sleep(0)  # more is queued: claim again once a slot frees
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_delay_s)
                self._wake.clear()
        finally:
            nudges.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await nudges
            await self._listener.aclose()

    async def _poll_iteration(self) -> None:
        free = self.max_jobs - self.job_counter
        if self.allow_pick_jobs and free > 0:
            claimed = await self._claim_script(keys=[self.queue_name], args=[
                timestamp_ms(), self._lease_ms, free, IN_PROGRESS_KEY_PREFIX, CLAIM_SCAN])
            for i in range(0, len(claimed), 2):
                await self._start(claimed[i].decode(), int(float(claimed[i + 1])))
            self._saturated = len(claimed) // 2 == free
        now = time.monotonic()
        # Queued jobs are checked against the abort set when they start (arq's run_job), so
        # an idle worker need not look; a busy one looks at most every 0.1 s.
        if self.allow_abort_jobs and self.tasks and \
                now - self._last_abort_check >= ABORT_CHECK_INTERVAL:
            self._last_abort_check = now
            await self._cancel_aborted_jobs()
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                task.result()
        await self.heart_beat()

    async def _start(self, job_id: str, score: int) -> None:
        await self.sem.acquire()  # a slot is free (we claimed at most that many): no wait
        self.job_counter += 1
        task = self.loop.create_task(self.run_job(job_id, score))
        task.add_done_callback(self._job_done)
        self.tasks[job_id] = task

    def _job_done(self, _: asyncio.Task[None]) -> None:
        self._release_sem_dec_counter_on_complete()
        if self._saturated:
            self._wake.set()

    async def _listen_for_nudges(self) -> None:
        # On every (re)connection: jobs may have been queued while we were away.
        await listen_forever(self._listener, self._wake_channel, lambda _: self._wake.set(),
                             self._wake.set, "nudge")
