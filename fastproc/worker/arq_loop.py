"""The one module that knows arq beyond its documented surface: fastproc's worker loop.

fastproc runs its tasks on arq's `Worker`. Everything that depends on arq's internals —
private methods and attributes of `Worker`, its key layout (`arq_format`) — is here, and
`tests/test_arq_contract.py` pins each of them, so an arq upgrade that changes one fails
that test with the name of what changed instead of losing jobs.

Why not arq's own loop: it claims jobs one at a time (WATCH, EXISTS, ZSCORE, MULTI,
PSETEX, EXEC: four round trips per job), reads each job's message and counts its try in a
fifth, finishes it in a sixth, and polls every `poll_delay`. `NudgedWorker` claims up to
its free capacity in one Lua call (`store/lua/claim.lua`) that also reads each message, counts
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
own loop with the same tasks and hooks (`fastproc.worker.launch`).

One thing differs on purpose: a task no worker can run from what Redis holds for it (a
queue entry or message written by hand or corrupted: an id that is not text, a score that
is not a time, a message that is missing, not JSON, or whose fields or arguments do not fit)
is dropped — off its queue, counted in /metrics, its job failed (`DroppedTask`) — where arq
would stop the worker on some and fail others unrun, leaving their jobs waiting for ever.

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
  `arq.worker.RetryJob`, `no_result`; `arq.utils.args_to_string`,
  `ms_to_datetime`, `truncate`; `arq.constants.keep_cronjob_progress`;
- the key layout and message format in `arq_format`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arq import Retry, func
from arq.connections import ArqRedis, RedisSettings, log_redis_info
from arq.constants import keep_cronjob_progress
from arq.jobs import SerializationError, deserialize_job_raw, serialize_result
from arq.utils import args_to_string, ms_to_datetime, truncate
from arq.worker import RetryJob, Worker, no_result
from loguru import logger
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from fastproc.redis import client_for, redis_url, sentinel_target
from fastproc.settings import Settings
from fastproc.store.pubsub import listen_forever
from fastproc.store.record import now_iso
from fastproc.store.scripts import register
from fastproc.wire.message import (
    ABORT_JOBS_SS,
    CLAIM_STARTS,
    IN_PROGRESS_KEY_PREFIX,
    JOB_KEY_PREFIX,
    RETRY_KEY_PREFIX,
    RETRY_KEY_TTL,
    STARTED,
    TASK_DROPPED,
    TASK_END,
    ClaimStarts,
    DropHook,
    DroppedTask,
    DropReason,
    TaskEnd,
    dump_job,
    load_job,
    timestamp_ms,
)

__all__ = ["JobHook", "NudgedWorker", "RedisSettings", "Retry", "Worker", "arq_redis_settings",
           "connect_worker", "func",
           "keep_leases"]

#: An arq hook on a job (`on_job_start` and friends): called with the job's context.
JobHook = Callable[[dict[str, Any]], Awaitable[None]]

#: Queue entries one claim looks at, at most (jobs running elsewhere are skipped over).
CLAIM_SCAN = 4096

#: Seconds between checks of arq's abort set while jobs run.
ABORT_CHECK_INTERVAL = 0.1

#: arq's own logger: a task run by `_run_claimed` logs the lines arq's `run_job` would.
arq_log = logging.getLogger("arq.worker")


@dataclass(frozen=True, slots=True)
class _Refusal:
    """Why a claimed task will not run: it is dropped (`DroppedTask`)."""

    reason: DropReason
    detail: str


@dataclass(slots=True)
class _Opened:
    """A claimed task about to run: its function and arguments, as arq's `run_job` names
    them."""

    job_try: int
    function_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: The try the message names (`t`; 0 if none).
    enqueue_job_try: int
    enqueue_time_ms: int
    enqueue_time: datetime
    function: Any = None
    ref: str = ""
    keep_in_progress: float | None = None


def _read_message(message: bytes, job_try: int) -> _Opened | _Refusal:
    """A task's message as arq's `run_job` reads it, every field checked for what arq does
    with it: a message written by hand may hold anything, and arq would stop the worker on
    some (a time that is not a number) or fail the task unrun on others."""
    try:
        function_name, args, kwargs, enqueue_job_try, enqueued = deserialize_job_raw(
            message, deserializer=load_job)
    except SerializationError:
        return _Refusal(DropReason.MESSAGE, "its queue message is not arq's JSON")
    problem = None
    if not isinstance(function_name, str):
        problem = "its function 'f' is not text"
    elif not isinstance(args, list):
        problem = "its arguments 'a' are not a list"
    elif not isinstance(kwargs, dict):
        problem = "its keyword arguments 'k' are not an object"
    elif enqueue_job_try is not None and type(enqueue_job_try) is not int:
        problem = "its try 't' is not a whole number"
    elif type(enqueued) not in (int, float) or not math.isfinite(enqueued):
        problem = "its enqueue time 'et' is not a number"
    else:
        try:
            enqueue_time = ms_to_datetime(enqueued)
        except (OverflowError, OSError, ValueError):
            problem = "its enqueue time 'et' is out of range"
    if problem is not None:
        return _Refusal(DropReason.MESSAGE, problem)
    return _Opened(job_try, function_name, tuple(args), kwargs, enqueue_job_try or 0,
                   int(enqueued), enqueue_time)


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
    #: The task's message (None: it expired, or is not a string).
    message: bytes | None
    #: Its try (0: its try counter is not a number).
    job_try: int
    #: An abort was asked before the task started.
    aborted: bool
    #: The record of the job the claim started for the task (`ClaimStarts`), as HGETALL
    #: gives it (empty: the record is gone); None when it started none.
    started: list[bytes] | None = None
    #: The task's queue entry as stored (`task_id` is its text, if it is text).
    member: bytes = b""
    #: What in the queue entry itself makes the task one no worker can run, if anything.
    unreadable: DropReason | None = None

    @classmethod
    def entry(cls, member: bytes, score: bytes, message: bytes | None, job_try: int,
              aborted: bool, started: list[bytes] | None) -> Claimed:
        """One task as the claim returns it; an entry that is not a task id and a time
        (written by hand) is `unreadable` rather than an error that would stop the worker."""
        unreadable = None
        due = float(score)
        if not math.isfinite(due):
            unreadable, due = DropReason.SCORE, 0.0
        try:
            task_id = member.decode()
        except UnicodeDecodeError:
            task_id, unreadable = member.decode(errors="backslashreplace"), DropReason.ID
        return cls(task_id, int(due), message, job_try, aborted, started, member, unreadable)


def connect_worker(settings: Settings, *, socket_timeout: float | None = None) -> ArqRedis:
    """The worker's connection: an `ArqRedis` (arq's `Worker` expects one) with fastproc's
    options, reading and writing arq's messages as JSON.

    No read timeout by default, as arq's own pools: a cancelled read under `asyncio.timeout`
    can lose the cancellation on Python 3.11 and leave a stopping worker running. Dead peers
    are still noticed (TCP keepalive, health checks, connect timeout).
    """
    client = client_for(ArqRedis, settings, socket_timeout=socket_timeout)
    client.job_serializer = dump_job
    client.job_deserializer = load_job
    return client


def arq_redis_settings(settings: Settings) -> RedisSettings:
    """arq's own description of the same Redis (what `arq --check` connects with): one
    server, or the Sentinel group (`RedisSettings(sentinel=True, …)`)."""
    target = sentinel_target(settings)
    if target is None:
        return RedisSettings.from_dsn(redis_url(settings))
    return RedisSettings(host=list(target.sentinels), sentinel=True,
                         sentinel_master=target.service, database=target.db,
                         username=target.username, password=target.password, ssl=target.tls,
                         ssl_ca_certs=target.options.get("ssl_ca_certs"),
                         ssl_certfile=target.options.get("ssl_certfile"),
                         ssl_keyfile=target.options.get("ssl_keyfile"),
                         ssl_cert_reqs=target.options.get("ssl_cert_reqs", "required"))


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
    return register(redis, "claim")


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
    return [Claimed.entry(raw[i], raw[i + 1], raw[i + 2], int(raw[i + 3]),
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
        self._task_dropped: DropHook | None = None
        self._signatures: dict[str, inspect.Signature] = {}
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
        self._task_dropped = self.ctx.get(TASK_DROPPED)
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
        arq's `finish_job` unless the task's last step did it (`TaskEnd`). A task arq
        would fail unrun, or stop on, is dropped instead (`_drop`)."""
        opened = await self._open(claimed)
        if isinstance(opened, _Opened):
            await self._execute(claimed, opened)
        elif opened is not None:
            await self._drop(claimed, opened)

    async def _open(self, claimed: Claimed) -> _Opened | _Refusal | None:
        """The task's function and arguments; or why it cannot run (`_Refusal`); or None
        once the task, aborted before its start, is finished as arq does."""
        if claimed.unreadable is DropReason.ID:
            return _Refusal(claimed.unreadable, "its queue entry is not UTF-8 text")
        if claimed.unreadable is DropReason.SCORE:
            return _Refusal(claimed.unreadable, "its queue score is not a time")
        if claimed.job_try < 1:
            return _Refusal(DropReason.TRIES, "its try counter is not a number")
        if claimed.message is None:
            return _Refusal(DropReason.MISSING, "its queue message is missing or expired")
        opened = _read_message(claimed.message, claimed.job_try)
        if isinstance(opened, _Refusal):
            return opened
        job_id = claimed.task_id
        if claimed.aborted:
            waited = (timestamp_ms() - opened.enqueue_time_ms) / 1000
            arq_log.info("%6.2fs ⊘ %s:%s aborted before start", waited, job_id,
                         opened.function_name)
            self.jobs_failed += 1
            data = serialize_result(
                opened.function_name, opened.args, opened.kwargs, opened.job_try,
                opened.enqueue_time_ms, False, asyncio.CancelledError(), timestamp_ms(),
                timestamp_ms(), f"{job_id}:{opened.function_name}", self.queue_name,
                job_id=job_id, serializer=self.job_serializer)
            await asyncio.shield(self.finish_failed_job(job_id, data))
            return None
        function = self.functions.get(opened.function_name)
        if function is None:
            return _Refusal(DropReason.FUNCTION,
                            f"its function {opened.function_name!r} is not one of the worker's")
        if not self._takes(function, opened.args, opened.kwargs):
            return _Refusal(DropReason.ARGUMENTS,
                            f"its arguments do not fit its function {opened.function_name!r}")
        opened.function = function
        if hasattr(function, "next_run"):  # a cron job
            opened.ref, opened.keep_in_progress = opened.function_name, keep_cronjob_progress
        else:
            opened.ref = f"{job_id}:{opened.function_name}"
        if opened.enqueue_job_try > opened.job_try:
            opened.job_try = opened.enqueue_job_try
            await self.pool.setex(RETRY_KEY_PREFIX + job_id, RETRY_KEY_TTL,
                                  str(opened.enqueue_job_try))
        max_tries = self.max_tries if function.max_tries is None else function.max_tries
        if opened.job_try > max_tries:
            return _Refusal(DropReason.TRIES, f"it is past its limit of {max_tries} tries")
        return opened

    def _takes(self, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Whether the task's function can be called with these arguments: arq would call
        it, fail the task on the TypeError and leave its job waiting for ever. (A bind of
        fastproc's tasks costs about 1 µs.)"""
        signature = self._signatures.get(function.name)
        if signature is None:
            signature = self._signatures[function.name] = inspect.signature(function.coroutine)
        try:
            signature.bind(None, *args, **kwargs)  # None stands for the context
        except TypeError:
            return False
        return True

    async def _drop(self, claimed: Claimed, refusal: _Refusal) -> None:
        """Take a task no worker can run off its queue, with its keys, instead of failing
        it as arq does (which leaves its job waiting) or stopping on it (a queue entry that
        is not a task id and a time): the start-up hook (`TASK_DROPPED`) counts it and
        fails its job, in the step that also does the task's arq bookkeeping."""
        self.jobs_failed += 1
        arq_log.warning("dropped task %r of queue %s: %s", claimed.task_id, self.queue_name,
                        refusal.detail)
        end = (None if claimed.unreadable is DropReason.ID
               else TaskEnd(claimed.task_id, self.queue_name))
        try:
            if self._task_dropped is not None:
                await self._task_dropped(DroppedTask(
                    claimed.task_id, self.queue_name, refusal.reason, refusal.detail, end))
            if end is None or not end.done:
                await self._forget(claimed.member)
        except (RedisError, OSError) as exc:
            logger.warning("cannot drop task {!r} ({}); it is dropped when claimed again",
                           claimed.task_id, exc)

    async def _forget(self, member: bytes) -> None:
        """arq's `finish_failed_job` (which keeps no result here) for a queue entry that
        may not be text: its keys and its entries go."""
        async with self.pool.pipeline(transaction=True) as tr:
            tr.delete(*(prefix.encode() + member for prefix in (
                RETRY_KEY_PREFIX, IN_PROGRESS_KEY_PREFIX, JOB_KEY_PREFIX)))
            tr.zrem(ABORT_JOBS_SS, member)
            tr.zrem(self.queue_name, member)
            await tr.execute()

    async def _execute(self, claimed: Claimed, opened: _Opened) -> None:
        job_id, score, function = claimed.task_id, claimed.score, opened.function
        end = TaskEnd(job_id, self.queue_name)
        ctx = {**self.ctx, "job_id": job_id, "job_try": opened.job_try,
               "enqueue_time": opened.enqueue_time, "score": score,
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
