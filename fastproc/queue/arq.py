"""The one module that knows arq beyond its documented surface: fastproc's worker loop.

fastproc runs its tasks on arq's `Worker`. Everything that depends on arq's internals —
private methods and attributes of `Worker`, its key layout (`arq_format`) — is here, and
`tests/test_arq_contract.py` pins each of them, so an arq upgrade that changes one fails
that test with the name of what changed instead of losing jobs.

Why not arq's own loop: it claims jobs one at a time (WATCH, EXISTS, ZSCORE, MULTI,
PSETEX, EXEC: four round trips per job), reads each job's message and counts its try in a
fifth, finishes it in a sixth, and polls every `poll_delay`. `NudgedWorker` claims up to
its free capacity in one Lua call (`lua/claim.lua`) that also reads each message, counts
each try and takes each task off the abort set, so running a task needs no round trip of
arq's (`_run_claimed` is arq's `run_job` from there on). The same call makes fastproc's first
step of each job it claims a task for — mark it running, read its record
(`arq_format.ClaimStarts`) — so a job's task starts without a round trip of its own either;
the task's last step does arq's
finishing deletes in the same atomic call that ends its job (`arq_format.TaskEnd`), so
arq's `finish_job` is skipped for it. Enqueuers publish a nudge on `{p}:wake:{queue}` so an
idle worker starts at once, and the poll delay becomes a fallback that costs a few
commands per second when idle.

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
  `Worker.run_job(job_id, score)` (mirrored by `_run_claimed`), `Worker.finish_job`,
  `Worker.finish_failed_job`, `Worker.heart_beat`;
- `Worker.run_job` awaits `on_job_start` in the task that runs the job (`keep_leases`
  ties the renewal to that task);
- `Worker` state: `tasks`, `job_tasks`, `aborting_tasks`, `job_counter`, `max_jobs`, `sem`,
  `allow_pick_jobs`, `allow_abort_jobs`, `poll_delay_s`, `burst`, `pool`, `ctx`, `loop`,
  `on_startup`, `on_job_start`, `on_job_end`, `after_job_end`, `functions`, `queue_name`,
  `max_tries`, `job_timeout_s`, `keep_result_s`, `keep_result_forever`, `retry_jobs`,
  `log_results`, `jobs_complete`, `jobs_failed`, `jobs_retried`, `job_serializer`,
  `job_deserializer`;
- `arq.jobs.deserialize_job_raw`, `serialize_result`, `SerializationError`;
  `arq.worker.JobExecutionFailed`, `RetryJob`, `no_result`; `arq.utils.args_to_string`,
  `ms_to_datetime`, `truncate`; `arq.constants.keep_cronjob_progress`;
- the key layout and message format in `arq_format`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from arq import Retry, func
from arq.connections import ArqRedis, RedisSettings, log_redis_info
from arq.constants import keep_cronjob_progress
from arq.jobs import SerializationError, deserialize_job_raw, serialize_result
from arq.utils import args_to_string, ms_to_datetime, truncate
from arq.worker import JobExecutionFailed, RetryJob, Worker, no_result
from loguru import logger
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from fastproc.jobs.record import now_iso
from fastproc.jobs.scripts import compose
from fastproc.pubsub import listen_forever
from fastproc.queue.arq_format import (
    ABORT_JOBS_SS,
    CLAIM_STARTS,
    IN_PROGRESS_KEY_PREFIX,
    JOB_KEY_PREFIX,
    RETRY_KEY_PREFIX,
    RETRY_KEY_TTL,
    STARTED,
    TASK_END,
    ClaimStarts,
    TaskEnd,
    dump_job,
    load_job,
    timestamp_ms,
)
from fastproc.queue.lua import lua
from fastproc.redis import connection_options, packing_in_c, redis_url
from fastproc.settings import Settings

__all__ = ["JobHook", "NudgedWorker", "RedisSettings", "Retry", "Worker", "connect_worker", "func",
           "keep_leases"]

#: An arq hook on a job (`on_job_start` and friends): called with the job's context.
JobHook = Callable[[dict[str, Any]], Awaitable[None]]

#: Queue entries one claim looks at, at most (jobs running elsewhere are skipped over).
CLAIM_SCAN = 4096

#: Seconds between checks of arq's abort set while jobs run.
ABORT_CHECK_INTERVAL = 0.1

#: arq's own logger: a task run by `_run_claimed` logs the lines arq's `run_job` would.
arq_log = logging.getLogger("arq.worker")


@dataclass(slots=True)
class _Opened:
    """A claimed task about to run: its function and arguments, as arq's `run_job` names
    them."""

    job_try: int
    function: Any = None
    function_name: str = "<unknown>"
    args: tuple[Any, ...] = ()
    kwargs: dict[Any, Any] = field(default_factory=dict)
    enqueue_time_ms: int = 0
    ref: str = ""
    keep_in_progress: float | None = None


@dataclass(slots=True)
class _Outcome:
    """How a task's run ended, as arq's `finish_job` takes it."""

    result: Any = no_result
    success: bool = False
    finish: bool = False
    incr_score: int | None = None
    finished_ms: int = 0


@dataclass(frozen=True, slots=True)
class Claimed:
    """A task one claim took, with what arq's `run_job` would read first (`lua/claim.lua`)."""

    task_id: str
    score: int
    #: The task's message (None: it expired).
    message: bytes | None
    job_try: int
    #: An abort was asked before the task started.
    aborted: bool
    #: The record of the job the claim started for the task (`ClaimStarts`), as HGETALL
    #: gives it (empty: the record is gone); None when it started none.
    started: list[bytes] | None = None


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
    return packing_in_c(client)


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
        # arq awaits this hook in the task that runs the job: the renewal ends with it, however
        # it ends (done, failed, aborted, cancelled at shutdown).
        running = asyncio.current_task()
        assert running is not None
        running.add_done_callback(_Renewal(redis, key, lease_ms).stop)

    return on_job_start


class _Renewal:
    """Pushes a lease's expiry back every third of the lease; a key already gone (the task
    ended meanwhile) is not recreated, a failed renewal is tried again at the next turn.
    A timer, not a task: most tasks end long before their first renewal."""

    def __init__(self, redis: Redis, key: str, lease_ms: int) -> None:
        self.redis, self.key, self.lease_ms = redis, key, lease_ms
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._pushing: asyncio.Task[None] | None = None
        self._stopped = False
        self._schedule()

    def _schedule(self) -> None:
        if not self._stopped:
            self._timer = self._loop.call_later(self.lease_ms / 3000, self._due)

    def _due(self) -> None:
        self._pushing = self._loop.create_task(self._push(), name=f"lease {self.key}")

    async def _push(self) -> None:
        try:
            await self.redis.pexpire(self.key, self.lease_ms)
        except (RedisError, OSError) as exc:
            logger.warning("cannot renew the lease {} ({})", self.key, exc)
        self._schedule()

    def stop(self, _: object = None) -> None:
        self._stopped = True
        if self._timer is not None:
            self._timer.cancel()
        if self._pushing is not None:
            self._pushing.cancel()


def claim_script(redis: Redis) -> AsyncScript:
    """`lua/claim.lua` on this connection, with the jobs' step it makes (`begin_step`)."""
    return redis.register_script(compose(lua("claim"), ("begin_step",)))


async def claim(script: AsyncScript, queue: str, free: int, *, lease_ms: int,
                starts: ClaimStarts | None, running: Iterable[str] = ()) -> list[Claimed]:
    """Up to `free` due tasks of `queue`, claimed for `lease_ms` (see `lua/claim.lua`);
    with `starts`, the jobs of the job tasks among them are started too. `running`: the
    tasks this worker runs already."""
    if starts is None:
        stats, start_args = ABORT_JOBS_SS, ("", 0, "", 0, "", "", "")
    else:
        stats, start_args = starts.stats, (
            starts.function, starts.max_tries, starts.record_prefix, starts.ttl, now_iso(),
            starts.channel, starts.counters)
    raw = await script(
        keys=[queue, ABORT_JOBS_SS, stats],
        args=[timestamp_ms(), lease_ms, free, IN_PROGRESS_KEY_PREFIX, CLAIM_SCAN,
              JOB_KEY_PREFIX, RETRY_KEY_PREFIX, RETRY_KEY_TTL, *start_args, *running])
    return [Claimed(raw[i].decode(), int(float(raw[i + 1])), raw[i + 2], int(raw[i + 3]),
                    raw[i + 4] == 1, raw[i + 5]) for i in range(0, len(raw), 6)]


def _log_poll_failure(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    logger.warning("cannot poll the queue ({}); retrying in {:.1f}s", exc, wait)


class NudgedWorker(Worker):
    """An arq `Worker` that claims in batches and wakes on nudges (see the module doc)."""

    #: Set once connected (`main`).
    _claim_script: AsyncScript

    def __init__(self, *args: Any, wake_channel: str, listener: Redis, lease: float,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lease_ms = int(lease * 1000)
        self._wake = asyncio.Event()
        self._wake_channel = wake_channel
        self._listener = listener
        self._saturated = False
        self._last_abort_check = 0.0
        self._starts: ClaimStarts | None = None
        # Redis went away: keep the jobs we run, poll again with backoff until it is back.
        self._poll_retrying = AsyncRetrying(
            retry=retry_if_exception_type((RedisError, OSError)),
            wait=wait_exponential(multiplier=0.1, max=5.0), before_sleep=_log_poll_failure)

    async def main(self) -> None:
        logger.info("worker for {} on queue {}", ", ".join(self.functions), self.queue_name)
        await log_redis_info(self.pool, logger.info)
        self.ctx["redis"] = self.pool
        self._claim_script = claim_script(self.pool)
        if self.on_startup:
            await self.on_startup(self.ctx)
        # Set by the start-up hook: which tasks start their job in the claim (fastproc's).
        self._starts = self.ctx.get(CLAIM_STARTS)
        nudges = asyncio.create_task(self._listen_for_nudges(), name="fastproc-nudges")
        try:
            while True:
                try:
                    await self._poll_iteration()
                except (RedisError, OSError):  # the retry machinery only once it is needed
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
            claimed = await claim(self._claim_script, self.queue_name, free,
                                  lease_ms=self._lease_ms, starts=self._starts,
                                  running=self.tasks)
            for one in claimed:
                await self._start(one)
            self._saturated = len(claimed) == free
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

    async def _start(self, claimed: Claimed) -> None:
        await self.sem.acquire()  # a slot is free (we claimed at most that many): no wait
        self.job_counter += 1
        task = self.loop.create_task(self._run_claimed(claimed))
        task.add_done_callback(self._job_done)
        self.tasks[claimed.task_id] = task

    async def _run_claimed(self, claimed: Claimed) -> None:
        """arq's `run_job` for a task the claim already read, counted and checked for an
        abort: the same checks, hooks, time limit, retries, counters and log lines, and
        arq's `finish_job` unless the task's last step did it (`TaskEnd`)."""
        opened = await self._open(claimed)
        if opened is not None:
            await self._execute(claimed, opened)
        elif claimed.started is not None and self._starts and self._starts.refused:
            try:  # the claim started its job: end it too
                await self._starts.refused(claimed.task_id)
            except (RedisError, OSError) as exc:
                logger.warning("cannot fail job {} ({}); it ends when its record expires",
                               claimed.task_id, exc)

    async def _open(self, claimed: Claimed) -> _Opened | None:
        """The task's function and arguments, or None once the task is finished as failed
        (expired, unreadable, aborted, unknown function, out of tries), as arq does."""
        job_id, start_ms = claimed.task_id, timestamp_ms()
        opened = _Opened(claimed.job_try)

        async def failed(exc: BaseException) -> None:
            self.jobs_failed += 1
            data = serialize_result(
                opened.function_name, opened.args, opened.kwargs, opened.job_try,
                opened.enqueue_time_ms, False, exc, start_ms, timestamp_ms(),
                f"{job_id}:{opened.function_name}", self.queue_name, job_id=job_id,
                serializer=self.job_serializer)
            await asyncio.shield(self.finish_failed_job(job_id, data))

        if claimed.message is None:
            arq_log.warning("job %s expired", job_id)
            await failed(JobExecutionFailed("job expired"))
            return None
        try:
            (opened.function_name, opened.args, opened.kwargs, enqueue_job_try,
             opened.enqueue_time_ms) = deserialize_job_raw(
                claimed.message, deserializer=self.job_deserializer)
        except SerializationError as exc:
            arq_log.exception("deserializing job %s failed", job_id)
            await failed(exc)
            return None
        waited = (timestamp_ms() - opened.enqueue_time_ms) / 1000
        if claimed.aborted:
            arq_log.info("%6.2fs ⊘ %s:%s aborted before start", waited, job_id,
                         opened.function_name)
            await failed(asyncio.CancelledError())
            return None
        function = self.functions.get(opened.function_name)
        if function is None:
            arq_log.warning("job %s, function %r not found", job_id, opened.function_name)
            await failed(JobExecutionFailed(
                f"function {opened.function_name!r} not found"))
            return None
        opened.function = function
        if hasattr(function, "next_run"):  # a cron job
            opened.ref, opened.keep_in_progress = opened.function_name, keep_cronjob_progress
        else:
            opened.ref = f"{job_id}:{opened.function_name}"
        if enqueue_job_try and enqueue_job_try > opened.job_try:
            opened.job_try = enqueue_job_try
            await self.pool.setex(RETRY_KEY_PREFIX + job_id, RETRY_KEY_TTL, str(enqueue_job_try))
        max_tries = self.max_tries if function.max_tries is None else function.max_tries
        if opened.job_try > max_tries:
            arq_log.warning("%6.2fs ! %s max retries %d exceeded", waited, opened.ref, max_tries)
            await failed(JobExecutionFailed(f"max {max_tries} retries exceeded"))
            return None
        return opened

    async def _execute(self, claimed: Claimed, opened: _Opened) -> None:
        job_id, score, function = claimed.task_id, claimed.score, opened.function
        end = TaskEnd(job_id, self.queue_name)
        ctx = {**self.ctx, "job_id": job_id, "job_try": opened.job_try,
               "enqueue_time": ms_to_datetime(opened.enqueue_time_ms), "score": score,
               TASK_END: end}
        if claimed.started is not None:
            ctx[STARTED] = claimed.started
        if self.on_job_start:
            await self.on_job_start(ctx)
        start_ms = timestamp_ms()
        self._log_start(opened, start_ms, score)
        outcome = _Outcome()
        timeout_s = self.job_timeout_s if function.timeout_s is None else function.timeout_s
        try:
            self.job_tasks[job_id] = task = self.loop.create_task(
                function.coroutine(ctx, *opened.args, **opened.kwargs))
            try:
                outcome.result = await asyncio.wait_for(task, timeout_s)
            finally:
                del self.job_tasks[job_id]
        except (Exception, asyncio.CancelledError) as exc:
            self._failed(job_id, opened.ref, exc, start_ms, score, outcome)
        else:
            outcome.success = outcome.finish = True
            outcome.finished_ms = timestamp_ms()
            if arq_log.isEnabledFor(logging.INFO):
                result = outcome.result
                shown = "" if result is None or not self.log_results else truncate(repr(result))
                arq_log.info("%6.2fs ← %s ● %s", (outcome.finished_ms - start_ms) / 1000,
                             opened.ref, shown)
            self.jobs_complete += 1
        keep_forever = (self.keep_result_forever if function.keep_result_forever is None
                        else function.keep_result_forever)
        keep_s = self.keep_result_s if function.keep_result_s is None else function.keep_result_s
        result_data = None
        if outcome.result is not no_result and (keep_forever or keep_s > 0):
            result_data = serialize_result(
                opened.function_name, opened.args, opened.kwargs, opened.job_try,
                opened.enqueue_time_ms, outcome.success, outcome.result, start_ms,
                outcome.finished_ms, opened.ref, self.queue_name, job_id=job_id,
                serializer=self.job_serializer)
        if self.on_job_end:
            await self.on_job_end(ctx)
        # The task's last step deleted its keys and took it off the queue already: nothing
        # is left to finish (nor to retry: its message went with them).
        if not (end.done and result_data is None):
            await asyncio.shield(self.finish_job(
                job_id, outcome.finish, result_data, keep_s, keep_forever,
                outcome.incr_score, opened.keep_in_progress))
        if self.after_job_end:
            await self.after_job_end(ctx)

    def _log_start(self, opened: _Opened, start_ms: int, score: int) -> None:
        if not arq_log.isEnabledFor(logging.INFO):
            return  # arq formats the arguments whether or not the line is written
        extra = f" try={opened.job_try}" if opened.job_try > 1 else ""
        if (start_ms - score) > 1200:
            extra += f" delayed={(start_ms - score) / 1000:0.2f}s"
        arq_log.info("%6.2fs → %s(%s)%s", (start_ms - opened.enqueue_time_ms) / 1000,
                     opened.ref, args_to_string(opened.args, opened.kwargs), extra)

    def _failed(self, job_id: str, ref: str, exc: BaseException, start_ms: int, score: int,
                outcome: _Outcome) -> None:
        """What arq's `run_job` makes of a task that raised: retried, aborted, run again
        after a cancellation, or failed."""
        outcome.finished_ms = timestamp_ms()
        t = (outcome.finished_ms - start_ms) / 1000
        if self.retry_jobs and isinstance(exc, Retry):
            outcome.incr_score = exc.defer_score
            arq_log.info("%6.2fs ↻ %s retrying job in %0.2fs", t, ref,
                         (exc.defer_score or 0) / 1000)
            if exc.defer_score:
                outcome.incr_score = exc.defer_score + (timestamp_ms() - score)
            self.jobs_retried += 1
        elif job_id in self.aborting_tasks and isinstance(exc, asyncio.CancelledError):
            arq_log.info("%6.2fs ⊘ %s aborted", t, ref)
            outcome.result, outcome.finish = exc, True
            self.aborting_tasks.remove(job_id)
            self.jobs_failed += 1
        elif self.retry_jobs and isinstance(exc, asyncio.CancelledError | RetryJob):
            arq_log.info("%6.2fs ↻ %s cancelled, will be run again", t, ref)
            self.jobs_retried += 1
        else:
            arq_log.exception("%6.2fs ! %s failed, %s: %s", t, ref, exc.__class__.__name__,
                              exc, exc_info=exc)
            outcome.result, outcome.finish = exc, True
            self.jobs_failed += 1

    def _job_done(self, _: asyncio.Task[None]) -> None:
        self._release_sem_dec_counter_on_complete()
        if self._saturated:
            self._wake.set()

    async def _listen_for_nudges(self) -> None:
        # On every (re)connection: jobs may have been queued while we were away.
        await listen_forever(self._listener, self._wake_channel, lambda _: self._wake.set(),
                             self._wake.set, "nudge")
