"""What every task of a worker shares: settings, processes, the jobs service, the connection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from arq.connections import ArqRedis
from loguru import logger
from redis.exceptions import RedisError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
)

from fastproc.authoring.fanout import FanOutProcess
from fastproc.authoring.process import BaseProcess
from fastproc.authoring.registry import Registry
from fastproc.jobs.service import JobService
from fastproc.ogc.exceptions import ProcessError
from fastproc.ogc.inputs import InputValidator
from fastproc.settings import Settings
from fastproc.store.catalogue import CatalogueEntry
from fastproc.store.record import JobRecord, is_job_id
from fastproc.store.result_document import (
    EncodedResult,
    encode_results,
    qualified_binary,
    results_document,
)
from fastproc.wire.keys import Keys
from fastproc.wire.message import DroppedTask, TaskEnd
from fastproc.wire.names import job_of
from fastproc.worker.callbacks import FAILED, IN_PROGRESS, SUCCESS, Notifier
from fastproc.worker.telemetry import job_ending, job_failed, job_succeeded

CTX_KEY = "fastproc"
#: Seconds `Runtime.persist` waits after a first failed write (then 0.2, 0.4 ... 5).
_FIRST_BACKOFF = 0.1
_LAST_BACKOFF = 5.0

T = TypeVar("T")


@dataclass(slots=True)
class Runtime:
    settings: Settings
    registry: Registry
    redis: ArqRedis
    keys: Keys
    jobs: JobService
    notifier: Notifier
    #: How long a running job's record (and join state) must live: long enough for the
    #: longest time limit of any process here, every try included.
    record_ttl: int
    #: The longest one try of any task of this worker may take (see `Settings.task_budget`).
    task_budget: float
    _validators: dict[str, InputValidator] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, registry: Registry, redis: ArqRedis) -> Runtime:
        keys = Keys(settings.key_prefix)
        jobs = JobService.connect(redis, keys, job_ttl=settings.job_ttl,
                                  active_ttl=settings.active_job_ttl,
                                  queue_cap=settings.max_queued_per_process,
                                  cache_ttl=settings.cache_ttl)
        longest = registry.longest_timeout(settings.job_timeout)
        return cls(settings, registry, redis, keys, jobs, Notifier(settings),
                   settings.active_ttl_for(longest), settings.task_budget(longest))

    def validator(self, proc: BaseProcess) -> InputValidator:
        """Compiled once per process, for inputs fetched by reference."""
        found = self._validators.get(proc.id)
        if found is None:
            found = self._validators[proc.id] = InputValidator(proc.description)
        return found

    def started(self, record: JobRecord, job_try: int) -> None:
        subscriber = record.request.get("subscriber")
        if job_try == 1 and subscriber:  # the document only for a job that asked for it
            self.notifier.notify(subscriber, IN_PROGRESS, record.status_document())

    async def dropped(self, task: DroppedTask) -> None:
        """Count a task the worker dropped unrun (`TASK_DROPPED`) and fail its job, if its
        id names one: no task will ever end that job, which would otherwise wait for ever
        (`accepted`, or `running` if the claim started it)."""
        await self.jobs.count_dropped(task.queue, task.reason)
        job_id = job_of(task.task_id)
        if task.end is None or not is_job_id(job_id):
            return
        await self.fail(job_id, ProcessError(
            f"the worker dropped the job's task {task.task_id} unrun: {task.detail}"
        ).to_dict(), end=task.end)

    async def fail(self, job_id: str, error: dict[str, Any],
                   subscriber: dict[str, Any] | None = None, *,
                   end: TaskEnd | None = None) -> bool:
        """Mark a job failed and tell its subscriber (read from the record if not given).
        `end`: the task that ends with this step (see `JobService.complete`)."""
        await job_ending()  # its log first, complete once the job has ended
        if not await self.persist(lambda: self.jobs.fail(job_id, error, end=end),
                                  f"the failure of job {job_id}"):
            return False
        job_failed()  # the worker's figures on the dashboard
        if subscriber is None:
            subscriber = await self.persist(lambda: self.jobs.subscriber(job_id),
                                            f"the subscriber of job {job_id}")
        self.notifier.notify(subscriber, FAILED, error)
        return True

    async def persist(self, step: Callable[[], Awaitable[T]], what: str) -> T:
        """Run a write of a job's outcome, retrying with backoff while Redis is away.

        A finished job keeps its outcome in the worker for up to `store_retry` seconds
        rather than being re-run in full once Redis is back; past that the error goes up
        and the task is handed back (a re-run). The first try is a plain call: the retry
        machinery is built only once a try has failed.
        """
        try:
            return await step()
        except (RedisError, OSError) as exc:
            return await self._persist_after(exc, time.monotonic(), step, what)

    async def _persist_after(self, error: BaseException, failed_at: float,
                             step: Callable[[], Awaitable[T]], what: str) -> T:
        """`persist` once its first try failed at `failed_at`: back off, then try again
        until the budget, counted from the first try, is spent."""
        budget = self.settings.store_retry
        first = min(_FIRST_BACKOFF, budget)
        if budget <= 0:
            raise error
        logger.warning("cannot store {} ({}); retrying in {:.1f}s", what, error, first)
        await asyncio.sleep(first)
        left = budget - (time.monotonic() - failed_at)

        def wait(state: RetryCallState) -> float:
            """The backoff (its first step already waited), cut to the budget left: the
            last try comes at its end."""
            backoff: float = min(_LAST_BACKOFF, _FIRST_BACKOFF * 2.0 ** state.attempt_number)
            return max(0.0, min(backoff, left - (state.seconds_since_start or 0.0)))

        def log(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            logger.warning("cannot store {} ({}); retrying in {:.1f}s", what, failure, delay)

        async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((RedisError, OSError)),
                stop=stop_after_delay(max(0.0, left)), wait=wait, before_sleep=log,
                reraise=True):
            with attempt:
                return await step()
        raise AssertionError("unreachable: the last attempt returns or raises")

    def queue_of(self, proc: BaseProcess) -> str:
        return proc.queue or self.settings.queue_name

    def soft_limit(self, proc: BaseProcess) -> float:
        return proc.timeout or self.settings.job_timeout

    def encode(self, proc: BaseProcess, outputs: Mapping[str, Any]) -> EncodedResult:
        return encode_results(outputs, proc.description.outputs,
                              self.settings.inline_output_bytes)

    async def complete(self, record: JobRecord, proc: BaseProcess, result: EncodedResult,
                       *, end: TaskEnd | None = None) -> bool:
        """Mark a job successful with its results, caching them if the process allows."""
        subscriber = record.request.get("subscriber")
        if result.size > self.settings.max_result_bytes:
            return await self.fail(record.job_id, ProcessError(
                f"the result of process '{proc.id}' is {result.size} bytes, over the limit "
                f"of {self.settings.max_result_bytes} (FASTPROC_MAX_RESULT_BYTES)").to_dict(),
                subscriber, end=end)
        await job_ending()  # its log first, complete once the job has ended
        done = await self.persist(lambda: self.jobs.complete(
            record, result, cacheable=proc.deterministic,
            fanned_out=isinstance(proc, FanOutProcess), end=end),
            f"the result of job {record.job_id}")
        if done:
            job_succeeded()  # the worker's figures on the dashboard
        if done and subscriber:
            document = results_document(result.document)
            for name, data in result.apart.items():
                document[name] = qualified_binary(data, document[name]["mediaType"])
            self.notifier.notify(subscriber, SUCCESS, document)
        return done

    def catalogue_entries(self) -> list[CatalogueEntry]:
        return [
            CatalogueEntry(description=p.description, queue=self.queue_of(p),
                           deterministic=p.deterministic,
                           uncached_inputs=sorted(p.uncached_inputs))
            for p in self.registry
        ]
