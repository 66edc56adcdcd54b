"""The arq worker of fastproc: its settings, start-up (load processes, publish the catalogue)
and its two launchers.

`fastproc worker` (and `fastproc dev`, tests) run `create_worker`: fastproc's loop
(`queue.arq.NudgedWorker`). `arq fastproc.WorkerSettings` runs `worker_settings` in arq's own
loop. Both run the same task functions with the same time limits, serializer, abort,
retries, leases (`keep_leases`), start-up and shutdown; only how a worker finds work
differs (nudges and batch claims, or polling every `ARQ_CLI_POLL_DELAY` at most).
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from fastproc.authoring.registry import Registry
from fastproc.heap import settle_heap
from fastproc.logging_setup import configure_logging
from fastproc.outputs.objects import OutputStore, OutputStoreError
from fastproc.outputs.sweep import Sweeper
from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.catalogue import Registration
from fastproc.store.job_store import STATS_TTL
from fastproc.wire.keys import Keys
from fastproc.wire.message import CLAIM_STARTS, TASK_DROPPED, dump_job, load_job
from fastproc.wire.names import MERGE_TASK, NODE_TASK, PART_TASK, RUN_TASK, wake_channel
from fastproc.worker.arq_loop import (
    NudgedWorker,
    Worker,
    arq_redis_settings,
    connect_worker,
    func,
    keep_leases,
)
from fastproc.worker.node_tasks import REMOTE_SLOTS, run_node_task
from fastproc.worker.remote import RemoteSlots
from fastproc.worker.runtime import CTX_KEY, Runtime, observed
from fastproc.worker.tasks import ARQ_MAX_TRIES, run_job, run_merge_task, run_part_task
from fastproc.worker.telemetry import WorkerInsights

#: The longest poll delay of arq's own loop under `arq fastproc.WorkerSettings`: no nudge
#: wakes it, so this is how long a job may wait in an idle queue (arq's default is 0.5 s).
ARQ_CLI_POLL_DELAY = 0.1

#: Where a worker keeps its catalogue registration in arq's context.
_REGISTRATION = "fastproc.store.catalogue"
#: Where a worker keeps its `WorkerInsights` in arq's context, to stop them at shutdown.
_INSIGHTS = "fastproc.insights"
#: The context member holding the worker's sweep of expired outputs.
_SWEEPER = "fastproc.outputs.sweep"


def _functions(settings: Settings, registry: Registry) -> list[Any]:
    # arq's timeout is only a backstop: every task fails its own job once past its time
    # budget (tasks.guarded), so arq's TimeoutError — which it records as final, leaving
    # the job `running` — must never come first.
    backstop = settings.task_budget(registry.longest_timeout(settings.job_timeout)) + 30
    return [
        func(observed(task, name), name=name, max_tries=ARQ_MAX_TRIES, timeout=backstop,
             keep_result=0)
        for name, task in ((RUN_TASK, run_job), (PART_TASK, run_part_task),
                           (MERGE_TASK, run_merge_task), (NODE_TASK, run_node_task))
    ]


def worker_settings(settings: Settings, registry: Registry | None = None) -> dict[str, Any]:
    """Keyword arguments of `arq.worker.Worker` for these settings: arq's WorkerSettings,
    for arq's own loop (`arq fastproc.WorkerSettings`; see the module doc)."""
    return {
        **_shared_settings(settings, registry),
        "on_job_start": keep_leases(settings.worker_lease, shorten_first=True),
        "poll_delay": min(settings.poll_delay, ARQ_CLI_POLL_DELAY),
        # What `arq --check` reads; the worker itself uses `redis_pool`.
        "redis_settings": arq_redis_settings(settings),
    }


def arq_cli_settings(settings: Settings) -> dict[str, Any]:
    """`fastproc.WorkerSettings`: `worker_settings` whose start-up first sets up logging from
    `FASTPROC_LOG_*`, as `fastproc worker` does (arq's CLI has set up its own by then)."""
    kwargs = worker_settings(settings)
    start = kwargs["on_startup"]
    # Now, before arq's CLI sets up its own logging, so that arq's first lines (before any
    # start-up hook runs) are in fastproc's format too.
    configure_logging(settings)

    async def on_startup(ctx: dict[str, Any]) -> None:
        configure_logging(settings)
        await start(ctx)

    return {**kwargs, "on_startup": on_startup}


def _shared_settings(settings: Settings, registry: Registry | None) -> dict[str, Any]:
    """What both launchers give arq's `Worker`."""
    procs = registry if registry is not None else Registry.from_modules(settings.processes)

    async def on_startup(ctx: dict[str, Any]) -> None:
        outputs = await _output_store(settings)
        rt = Runtime.build(settings, procs, ctx["redis"], outputs=outputs)
        ctx[CTX_KEY] = rt
        if outputs is not None:
            sweeper = ctx[_SWEEPER] = Sweeper(outputs, rt.jobs.output_index,
                                               settings.output_sweep_interval)
            sweeper.start()
        # The worker's slots its workflows' remote calls may wait in (each task's context
        # is a copy of this one: the count is the worker's, shared by its tasks).
        ctx[REMOTE_SLOTS] = RemoteSlots.of(settings)
        # fastproc's loop starts each job in the claim of its task, and ends the job of a task
        # it drops unrun (arq's own loop ignores both).
        ctx[CLAIM_STARTS] = rt.jobs.claim_starts(RUN_TASK, ARQ_MAX_TRIES, rt.record_ttl)
        ctx[TASK_DROPPED] = rt.fail_dropped
        registration = Registration(rt.redis, rt.keys, rt.catalogue_entries(),
                                    ttl=settings.catalogue_ttl,
                                    retention=settings.active_job_ttl)
        await registration.start()
        ctx[_REGISTRATION] = registration
        # The dashboard's figures and the job logs, told of every task by the runtime.
        served = [p.id for p in procs if rt.queue_of(p) == settings.queue_name]
        rt.observer = ctx[_INSIGHTS] = await WorkerInsights.start(
            settings, rt.redis, rt.keys, worker_id=registration.worker_id, processes=served)
        # The counters behind /metrics live on; every worker start (and every scrape)
        # pushes their expiry back.
        await rt.redis.expire(rt.keys.stats, STATS_TTL)
        logger.info("worker serves {} processes on queue {}: {}", len(procs),
                    settings.queue_name, ", ".join(p.id for p in procs))
        settle_heap()  # start-up is over: no full collection walks its objects again

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        sweeper: Sweeper | None = ctx.get(_SWEEPER)
        if sweeper is not None:
            await sweeper.stop()
        insights: WorkerInsights | None = ctx.get(_INSIGHTS)
        if insights is not None:
            await insights.stop()
        registration: Registration | None = ctx.get(_REGISTRATION)
        if registration is not None:
            await registration.stop()
        rt: Runtime | None = ctx.get(CTX_KEY)
        if rt is not None:
            await rt.notifier.drain(grace=5.0)

    return {
        "functions": _functions(settings, procs),
        "on_shutdown": on_shutdown,
        "job_completion_wait": settings.shutdown_grace,
        "redis_pool": connect_worker(settings),
        "queue_name": settings.queue_name,
        "max_jobs": settings.worker_concurrency,
        "allow_abort_jobs": True,
        # JSON, never pickle: a write to Redis must not run code on the workers.
        "job_serializer": dump_job,
        "job_deserializer": load_job,
        "keep_result": 0,
        "on_startup": on_startup,
        "health_check_key": Keys(settings.key_prefix).health(settings.queue_name),
        # /health reads this key: it expires a second after a worker stops reporting.
        "health_check_interval": 10,
    }


async def _output_store(settings: Settings) -> OutputStore | None:
    """The output store the settings name, checked by a write: a wrong URL or wrong
    credentials stop the worker at start with one line saying so, not a job later."""
    if not settings.output_store:
        return None
    try:
        store = OutputStore.from_url(settings.output_store)
        await store.check()
    except OutputStoreError as exc:
        raise SystemExit(f"fastproc worker cannot start: {exc}") from None
    return store


def create_worker(
    settings: Settings, registry: Registry | None = None, *, handle_signals: bool = True
) -> Worker:
    """fastproc's worker: arq's, claiming in batches and woken by nudges."""
    return NudgedWorker(
        **_shared_settings(settings, registry), handle_signals=handle_signals,
        on_job_start=keep_leases(settings.worker_lease, shorten_first=False),
        poll_delay=settings.poll_delay, lease=settings.worker_lease,
        wake_channel=wake_channel(settings.key_prefix, settings.queue_name),
        listener=connect(settings, socket_timeout=None))
