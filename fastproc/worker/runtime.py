"""What every task of a worker shares: settings, processes, the jobs service, the
connection, the retry policy, and the observer its tasks report to.

Each task runs with a view of the worker's runtime (`observed`) whose observer is the
task's own: where the runtime ends a job it reports to it (`fastproc.worker.observer`),
so the figures and logs kept of a task need no state hidden in the task's context.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from arq.connections import ArqRedis

from fastproc.authoring.fanout import FanOutProcess
from fastproc.authoring.process import BaseProcess
from fastproc.authoring.registry import Registry
from fastproc.jobs.service import JobService
from fastproc.ogc.exceptions import ProcessError
from fastproc.ogc.inputs import InputValidator
from fastproc.outputs.handoff import Handoff
from fastproc.outputs.objects import OutputStore
from fastproc.outputs.placement import Placement, is_stream, read_whole
from fastproc.settings import Settings
from fastproc.store.catalogue import CatalogueEntry
from fastproc.store.record import JobRecord, is_job_id
from fastproc.store.result_document import LINK_BASE, EncodedResult, encode_results
from fastproc.wire.keys import Keys
from fastproc.wire.message import DroppedTask, TaskEnd
from fastproc.wire.names import MERGE_TASK, NODE_TASK, PART_TASK, RUN_TASK, job_of
from fastproc.worker.callbacks import (
    FAILED,
    IN_PROGRESS,
    SUCCESS,
    Notifier,
    success_document,
)
from fastproc.worker.observer import NO_OBSERVER, TaskObserver, WorkerObserver
from fastproc.worker.retries import RetryPolicy

CTX_KEY = "fastproc"
#: What each task function is called in the reports to the observer.
_KINDS = {RUN_TASK: "job", PART_TASK: "part", MERGE_TASK: "merge", NODE_TASK: "node"}

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
    retries: RetryPolicy
    #: Told of every task this worker runs (set at its start-up: the dashboard's figures).
    observer: WorkerObserver = NO_OBSERVER
    #: Told of the jobs the task this view runs ends (`observed`); none in the worker's own.
    task_observer: TaskObserver = NO_OBSERVER
    _validators: dict[str, InputValidator] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, registry: Registry, redis: ArqRedis,
              observer: WorkerObserver = NO_OBSERVER,
              outputs: OutputStore | None = None) -> Runtime:
        keys = Keys(settings.key_prefix)
        jobs = JobService.connect(redis, keys, job_ttl=settings.job_ttl,
                                  active_ttl=settings.active_job_ttl,
                                  queue_cap=settings.max_queued_per_process,
                                  cache_ttl=settings.cache_ttl, outputs=outputs,
                                  min_replicas=settings.redis_min_replicas)
        longest = registry.longest_timeout(settings.job_timeout)
        return cls(settings, registry, redis, keys, jobs, Notifier(settings),
                   settings.active_ttl_for(longest), settings.task_budget(longest),
                   RetryPolicy.of(settings), observer)

    def for_task(self, observer: TaskObserver) -> Runtime:
        """This runtime, reporting the jobs it ends to `observer` (one task's)."""
        return dataclasses.replace(self, task_observer=observer)

    def validator(self, proc: BaseProcess) -> InputValidator:
        """Compiled once per process, for inputs fetched by reference."""
        found = self._validators.get(proc.id)
        if found is None:
            found = self._validators[proc.id] = InputValidator(proc.description)
        return found

    def notify_started(self, record: JobRecord, job_try: int) -> None:
        """Tell the job's subscriber it runs (its first try only)."""
        subscriber = record.request.get("subscriber")
        if job_try == 1 and subscriber:  # the document only for a job that asked for it
            self.notifier.notify(subscriber, IN_PROGRESS, record.status_document())

    async def fail_dropped(self, task: DroppedTask) -> None:
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
                   end: TaskEnd | None = None,
                   provenance: dict[str, Any] | None = None) -> bool:
        """Mark a job failed and tell its subscriber (read from the record if not given).
        `end`: the task that ends with this step; `provenance`: the run's facts, written
        in the same round trip (see `JobService.complete`)."""
        await self.task_observer.job_ending()  # its log first, complete once it has ended
        if not await self.persist(lambda: self.jobs.fail(
                job_id, error, end=end, provenance=provenance),
                f"the failure of job {job_id}"):
            return False
        self.task_observer.job_failed()
        if subscriber is None:
            subscriber = await self.persist(lambda: self.jobs.subscriber(job_id),
                                            f"the subscriber of job {job_id}")
        self.notifier.notify(subscriber, FAILED, error)
        return True

    async def persist(self, step: Callable[[], Awaitable[T]], what: str) -> T:
        """Write a job's outcome (`what`) as the retry policy has it: retried while Redis
        is away, for `FASTPROC_STORE_RETRY` seconds (`RetryPolicy.persist`)."""
        return await self.retries.persist(step, what)

    def queue_of(self, proc: BaseProcess) -> str:
        return proc.queue or self.settings.queue_name

    def soft_limit(self, proc: BaseProcess) -> float:
        return proc.timeout or self.settings.job_timeout

    async def encode(self, proc: BaseProcess, outputs: Mapping[str, Any]) -> EncodedResult:
        """The result of these outputs: with an output store, each binary output above
        the inline limit is uploaded (streamed, if the process returned a file or an
        async iterator) and only its key, size, media type and digest go to Redis."""
        descriptions = proc.description.outputs
        store = self.jobs.outputs
        if store is not None:
            placement = Placement(store, self.jobs.output_index,
                                  self.settings.inline_output_bytes)
            outputs = await placement.place(outputs, descriptions, self.record_ttl)
        else:
            outputs = {name: await read_whole(value, name, self.settings.max_result_bytes)
                       if is_stream(value) else value for name, value in outputs.items()}
        return encode_results(outputs, descriptions, self.settings.inline_output_bytes)

    def handoff(self) -> Handoff:
        """Where part results and node values go on their way to their merge or parent:
        the output store for those above the inline limit, read back within the result
        limit."""
        return Handoff(self.jobs.outputs, self.jobs.output_index,
                       self.settings.inline_output_bytes, self.settings.max_result_bytes)

    async def complete(self, record: JobRecord, proc: BaseProcess, result: EncodedResult,
                       *, end: TaskEnd | None = None,
                       provenance: dict[str, Any] | None = None) -> bool:
        """Mark a job successful with its results, caching them if the process allows."""
        subscriber = record.request.get("subscriber")
        if result.size > self.settings.max_result_bytes:
            await self.jobs.drop_objects(result.objects)
            return await self.fail(record.job_id, ProcessError(
                f"the result of process '{proc.id}' is {result.size} bytes, over the limit "
                f"of {self.settings.max_result_bytes} (FASTPROC_MAX_RESULT_BYTES)").to_dict(),
                subscriber, end=end, provenance=provenance)
        await self.task_observer.job_ending()  # its log first, complete once it has ended
        done = await self.persist(lambda: self.jobs.complete(
            record, result, cacheable=proc.deterministic,
            fanned_out=isinstance(proc, FanOutProcess), end=end,
            provenance=provenance),
            f"the result of job {record.job_id}")
        if done:
            self.task_observer.job_succeeded()
        if done and subscriber:
            base = record.request.get(LINK_BASE) or self.settings.base_url or ""
            self.notifier.notify(subscriber, SUCCESS,
                                 success_document(result, record.job_id, str(base)))
        return done

    def catalogue_entries(self) -> list[CatalogueEntry]:
        return [
            CatalogueEntry(description=p.description, queue=self.queue_of(p),
                           deterministic=p.deterministic,
                           uncached_inputs=sorted(p.uncached_inputs))
            for p in self.registry
        ]


class TaskFunction(Protocol):
    """An arq task function (the shape of arq's `WorkerCoroutine`)."""

    __qualname__: str

    async def __call__(self, ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> Any: ...


@functools.cache
def observed(task: TaskFunction, name: str) -> TaskFunction:
    """`task` (an arq task function registered as `name`) watched by the worker's observer:
    it runs with a view of the runtime whose `task_observer` is the one its observer gives
    it. One wrapper per task, so every worker built in a process runs the same functions."""
    kind = _KINDS.get(name, name.rpartition(".")[2])

    @functools.wraps(task)
    async def run(ctx: dict[Any, Any], *args: Any, **kwargs: Any) -> Any:
        rt: Runtime | None = ctx.get(CTX_KEY)
        if rt is None:
            return await task(ctx, *args, **kwargs)
        async with rt.observer.task(ctx["job_id"], kind, int(ctx.get("job_try") or 1)) as seen:
            return await task({**ctx, CTX_KEY: rt.for_task(seen)}, *args, **kwargs)

    return run
