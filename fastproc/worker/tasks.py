"""The arq task that runs a job: load the record, run the process, store the outcome.

Execution is at-least-once (arq re-runs a task whose worker died), so every step is
idempotent at the record level: a run never resurrects a terminal job, and a job whose tries
run out ends `failed` instead of staying `running`.

Every task runs under `guarded`, which ends the job whatever happens to the task: an error
fails it, a lost Redis hands it back for a re-run, and the task's own time budget (fetching
inputs, running, storing) ends well before arq's backstop timeout, whose `TimeoutError` arq
would record as final while the job stayed `running`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from arq import Retry
from loguru import logger
from redis.exceptions import RedisError

from fastproc.authoring.fanout import FanOutProcess
from fastproc.authoring.process import BaseProcess
from fastproc.ogc.exceptions import InvalidParameterValue, OGCException, ProcessError
from fastproc.ogc.inputs import references
from fastproc.store.record import JobRecord
from fastproc.wire.message import STARTED, TASK_END, TaskEnd
from fastproc.wire.names import job_of
from fastproc.worker.fanout_tasks import run_merge, run_part, start_fanout
from fastproc.worker.fetch import Fetched, resolve_references
from fastproc.worker.invoke import decode_inputs, error_of, run_with_limits
from fastproc.worker.progress import ProgressReporter
from fastproc.worker.run_facts import record_start, start_facts
from fastproc.worker.runtime import CTX_KEY, Runtime

#: arq's own try limit for fastproc tasks; the real limits are checked in `run_job`.
ARQ_MAX_TRIES = 1_000
#: The context member with the inputs `run_job` runs the process with instead of the
#: request's: a workflow's root, whose inputs hold its nested processes' values, which
#: are kept out of the job's record (`fastproc.worker.node_tasks`).
GIVEN_INPUTS = "fastproc.inputs"


async def run_job(ctx: dict[str, Any]) -> None:
    rt: Runtime = ctx[CTX_KEY]
    job_id: str = ctx["job_id"]
    job_try: int = ctx["job_try"]
    end: TaskEnd | None = ctx.get(TASK_END)
    started: list[bytes] | None = ctx.get(STARTED)
    given: dict[str, Any] | None = ctx.get(GIVEN_INPUTS)
    with logger.contextualize(job_id=job_id):
        await guarded(rt, job_id, "job",
                      _begin_and_run(rt, job_id, job_try, end, started, given), end)


async def _begin_and_run(rt: Runtime, job_id: str, job_try: int, end: TaskEnd | None,
                         started: list[bytes] | None, given: dict[str, Any] | None) -> None:
    """`started`: the record as the worker's claim started the job (`ClaimStarts`); without
    it (arq's own loop) the task starts the job itself."""
    if started is not None:
        record = rt.jobs.started(job_id, started)
    else:
        record = await rt.jobs.begin(job_id, rt.record_ttl)
    if record is None or record.status.terminal:
        return
    with logger.contextualize(process_id=record.process_id):
        await _run_record(rt, record, job_try, end, given)


async def guarded(rt: Runtime, job_id: str, what: str, work: Coroutine[Any, Any, None],
                  end: TaskEnd | None = None) -> None:
    """Run a task so that it never ends without ending its job: arq treats any exception
    but `Retry` as final, which would leave the record `running` until it expires.
    `end`: the running task, finished in the step that fails its job (`TaskEnd`)."""
    budget = asyncio.timeout(rt.task_budget)
    try:
        async with budget:
            await work
    except Retry:
        raise
    except TimeoutError as exc:
        if not budget.expired():
            await _lost_redis_or_fail(rt, job_id, what, exc, end)
            return
        logger.error("{} ran past its time budget of {:g} s", what, rt.task_budget)
        await _fail_or_retry(rt, job_id, ProcessError(
            f"{what} ran past the time budget of {rt.task_budget:g} s (fetching inputs, "
            "running and storing its result)").to_dict(), end)
    except (RedisError, OSError) as exc:
        await _lost_redis_or_fail(rt, job_id, what, exc, end)
    except Exception as exc:
        await _fail_or_retry(rt, job_id, error_of(exc, what), end)


async def _lost_redis_or_fail(rt: Runtime, job_id: str, what: str, exc: BaseException,
                              end: TaskEnd | None) -> None:
    if isinstance(exc, RedisError):
        logger.warning("{} lost Redis ({}); it runs again", what, exc)
        raise Retry(defer=5) from exc
    await _fail_or_retry(rt, job_id, error_of(exc, what), end)


async def _fail_or_retry(rt: Runtime, job_id: str, error: dict[str, Any],
                         end: TaskEnd | None) -> None:
    """Fail the job; if even that cannot be stored, hand the task back to arq to re-run
    (never end the task with the job still `running`)."""
    try:
        await rt.fail(job_id, error, end=end)
    except (RedisError, OSError) as exc:
        logger.warning("cannot fail job {} ({}); it runs again", job_id, exc)
        raise Retry(defer=5) from exc


async def _run_record(rt: Runtime, record: JobRecord, job_try: int,
                      end: TaskEnd | None, given: dict[str, Any] | None = None) -> None:
    job_id = record.job_id
    proc = rt.registry.get(record.process_id)
    if proc is None:
        await rt.fail(job_id, ProcessError(
            f"process '{record.process_id}' is not loaded by the worker that took the job"
        ).to_dict(), end=end)
        return
    if rt.retries.gave_up(proc, job_try):
        await rt.fail(job_id, ProcessError(
            f"job of '{proc.id}' gave up after {rt.retries.tries_allowed(proc)} tries "
            "(its worker died or it failed each time)"
        ).to_dict(), end=end)
        return
    rt.notify_started(record, job_try)
    fetched: list[Fetched] = []
    try:
        inputs = await _inputs_of(rt, record, proc, given, fetched)
    except TimeoutError:
        await rt.fail(job_id, InvalidParameterValue(
            f"the inputs given by reference were not fetched within "
            f"{rt.settings.fetch_timeout:g} s (FASTPROC_FETCH_TIMEOUT)").to_dict(),
            record.request.get("subscriber"), end=end)
        return
    except OGCException as exc:
        await rt.fail(job_id, exc.to_dict(), record.request.get("subscriber"), end=end)
        return
    facts = start_facts(proc, fetched)
    if isinstance(proc, FanOutProcess):
        await record_start(rt, job_id, facts)
        try:
            await start_fanout(rt, record, proc, inputs, end)
        except Exception as exc:
            await rt.fail(job_id, error_of(exc, f"split of process '{proc.id}'"), end=end)
        return
    progress = ProgressReporter(rt.jobs, job_id)
    context = f"process '{proc.id}'"
    try:
        outputs = await run_with_limits(
            proc.run(decode_inputs(inputs), progress),
            rt.soft_limit(proc), rt.settings.hard_timeout_grace,
        )
        result = await rt.encode(proc, outputs)
    except Exception as exc:
        rerun = rt.retries.rerun(proc, job_try)
        if rerun is not None:
            logger.warning("{} raised {!r}; retrying (try {})", context, exc, job_try)
            raise rerun from exc
        await progress.drain()
        await rt.fail(job_id, error_of(exc, context), end=end, provenance=facts)
        return
    await progress.drain()
    await rt.complete(record, proc, result, end=end, provenance=facts)


async def _inputs_of(rt: Runtime, record: JobRecord, proc: BaseProcess,
                     given: dict[str, Any] | None = None,
                     fetched: list[Fetched] | None = None) -> dict[str, Any]:
    """The job's inputs as received (or `given`), with references fetched and validated
    (what each gave appended to `fetched`); all fetches of a job together get
    `fetch_timeout` (a server that drips bytes cannot hold the job)."""
    inputs: dict[str, Any] = record.request.get("inputs", {}) if given is None else given
    if not references(inputs):
        return inputs
    async with asyncio.timeout(rt.settings.fetch_timeout):
        return await resolve_references(inputs, proc.description, rt.validator(proc),
                                        rt.settings, fetched)


async def run_part_task(ctx: dict[str, Any]) -> None:
    """One item or step of a fan-out job (arq id `{job}:part:{key}`)."""
    job_id = job_of(ctx["job_id"])
    end: TaskEnd | None = ctx.get(TASK_END)
    with logger.contextualize(job_id=job_id):
        await guarded(ctx[CTX_KEY], job_id, f"part {ctx['job_id']}",
                       run_part(ctx[CTX_KEY], ctx["job_id"], ctx["job_try"], end), end)


async def run_merge_task(ctx: dict[str, Any]) -> None:
    """The merge of a fan-out job (arq id `{job}:merge`), queued by its last part."""
    job_id = job_of(ctx["job_id"])
    end: TaskEnd | None = ctx.get(TASK_END)
    with logger.contextualize(job_id=job_id):
        await guarded(ctx[CTX_KEY], job_id, "merge", run_merge(ctx[CTX_KEY], ctx["job_id"], end),
                       end)
