"""The arq contract: every arq internal that `fastproc.worker.arq_loop` and `arq_format` rely on,
checked against the installed arq. Each failure names what changed; fix the adapter (or pin
arq below the release that changed it) before anything else.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import arq
import arq.constants
import arq.utils
import pytest
from arq.connections import ArqRedis
from arq.jobs import deserialize_job_raw, serialize_job
from arq.worker import Worker

import fastproc
from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.wire import message as arq_format
from fastproc.wire.enqueue import enqueue_in
from fastproc.wire.message import dump_job, job_message, load_job
from fastproc.wire.names import RUN_TASK
from fastproc.worker.arq_loop import connect_worker

#: The arq releases fastproc is tested with (pyproject.toml pins the same range).
TESTED = ((0, 26), (0, 29))

#: arq.constants name → the arq_format constant that must equal it.
CONSTANTS = {
    "job_key_prefix": "JOB_KEY_PREFIX",
    "in_progress_key_prefix": "IN_PROGRESS_KEY_PREFIX",
    "retry_key_prefix": "RETRY_KEY_PREFIX",
    "result_key_prefix": "RESULT_KEY_PREFIX",
    "abort_jobs_ss": "ABORT_JOBS_SS",
    "abort_job_max_age": "ABORT_JOB_MAX_AGE",
    "expires_extra_ms": "EXPIRES_EXTRA_MS",
}

#: Worker methods the adapter overrides or calls: name → (is a coroutine, parameters).
METHODS = {
    "main": (True, ["self"]),
    "_poll_iteration": (True, ["self"]),
    "_cancel_aborted_jobs": (True, ["self"]),
    "_release_sem_dec_counter_on_complete": (False, ["self"]),
    "run_job": (True, ["self", "job_id", "score"]),
    "finish_job": (True, ["self", "job_id", "finish", "result_data", "result_timeout_s",
                          "keep_result_forever", "incr_score", "keep_in_progress"]),
    "finish_failed_job": (True, ["self", "job_id", "result_data"]),
    "heart_beat": (True, ["self"]),
    "close": (True, ["self"]),
}

#: Worker state the adapter reads or drives: attribute → its type on a fresh worker.
STATE: dict[str, type | tuple[type, ...]] = {
    "tasks": dict,
    "job_tasks": dict,
    "job_counter": int,
    "max_jobs": int,
    "sem": asyncio.BoundedSemaphore,
    "allow_pick_jobs": bool,
    "allow_abort_jobs": bool,
    "poll_delay_s": (int, float),
    "burst": bool,
    "ctx": dict,
    "loop": asyncio.AbstractEventLoop,
    "functions": dict,
    "queue_name": str,
    "aborting_tasks": set,
    "max_tries": int,
    "job_timeout_s": (int, float),
    "keep_result_s": (int, float),
    "keep_result_forever": bool,
    "retry_jobs": bool,
    "log_results": bool,
    "jobs_complete": int,
    "jobs_failed": int,
    "jobs_retried": int,
    "job_serializer": type(None),
    "job_deserializer": type(None),
    "on_job_start": type(None),
    "on_job_end": type(None),
    "after_job_end": type(None),
}

#: What `NudgedWorker._run_claimed` takes from arq's `run_job`, by module: name → whether it
#: is called with these parameters (None: not a function).
HELPERS: dict[str, dict[str, list[str] | None]] = {
    "arq.jobs": {
        "deserialize_job_raw": ["r", "deserializer"],
        "serialize_result": ["function", "args", "kwargs", "job_try", "enqueue_time_ms",
                             "success", "result", "start_ms", "finished_ms", "ref",
                             "queue_name", "job_id", "serializer"],
        "SerializationError": None,
    },
    "arq.worker": {"RetryJob": None, "no_result": None},
    "arq.utils": {"args_to_string": ["args", "kwargs"], "ms_to_datetime": ["unix_ms"],
                  "truncate": ["s", "length"]},
    "arq.constants": {"keep_cronjob_progress": None},
}


async def _noop(ctx: dict[str, Any]) -> None:
    return None


@pytest.fixture
def worker() -> Iterator[Worker]:
    built = Worker(functions=[arq.func(_noop, name=RUN_TASK)], queue_name="contract:queue",
                   handle_signals=False, redis_pool=ArqRedis.from_url("redis://127.0.0.1:1"),
                   allow_abort_jobs=True, poll_delay=0.05)
    yield built


def test_installed_arq_is_in_the_tested_range() -> None:
    version = tuple(int(part) for part in arq.VERSION.split(".")[:2])
    low, high = TESTED
    assert low <= version < high, (
        f"arq {arq.VERSION} is outside the range fastproc.worker.arq_loop is tested with "
        f"({'.'.join(map(str, low))} to below {'.'.join(map(str, high))})")


@pytest.mark.parametrize("arq_name,ours", CONSTANTS.items())
def test_arq_format_spells_arqs_key_layout(arq_name: str, ours: str) -> None:
    assert hasattr(arq.constants, arq_name), f"arq.constants.{arq_name} is gone"
    theirs = getattr(arq.constants, arq_name)
    assert getattr(arq_format, ours) == theirs, (
        f"arq.constants.{arq_name} is now {theirs!r}: update arq_format.{ours}")


def test_a_message_fastproc_writes_is_the_one_arq_writes_and_reads() -> None:
    when = 1_700_000_000_123
    ours = job_message(RUN_TASK, when)
    assert ours == serialize_job(RUN_TASK, (), {}, None, when, serializer=dump_job), (
        "arq.jobs.serialize_job writes another message format: update arq_format.job_message")
    function, args, kwargs, job_try, enqueued = deserialize_job_raw(ours, deserializer=load_job)
    assert (function, list(args), kwargs, job_try, enqueued) == (RUN_TASK, [], {}, None, when)


def test_queue_scores_are_arqs_timestamps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arq.utils, "time", lambda: 1_700_000_000.1236)
    monkeypatch.setattr(arq_format.time, "time", lambda: 1_700_000_000.1236)
    assert arq_format.timestamp_ms() == arq.utils.timestamp_ms() == 1_700_000_000_124


@pytest.mark.parametrize("name", METHODS)
def test_worker_methods_the_adapter_uses_keep_their_shape(name: str) -> None:
    coroutine, parameters = METHODS[name]
    method = getattr(Worker, name, None)
    assert method is not None, f"arq.worker.Worker.{name} is gone: fastproc.worker.arq_loop uses it"
    assert inspect.iscoroutinefunction(method) is coroutine, (
        f"arq.worker.Worker.{name} is {'no longer' if coroutine else 'now'} a coroutine")
    found = list(inspect.signature(method).parameters)
    assert found == parameters, f"arq.worker.Worker.{name}{found} was {parameters}"


@pytest.mark.parametrize("name", STATE)
def test_worker_state_the_adapter_drives_is_there(worker: Worker, name: str) -> None:
    assert hasattr(worker, name), f"arq's Worker has no attribute {name!r} any more"
    value = getattr(worker, name)
    assert isinstance(value, STATE[name]), f"Worker.{name} is now a {type(value).__name__}"


@pytest.mark.parametrize("module,name", [(m, n) for m, names in HELPERS.items() for n in names])
def test_helpers_of_run_job_the_adapter_mirrors_are_there(module: str, name: str) -> None:
    found = getattr(importlib.import_module(module), name, None)
    assert found is not None, f"{module}.{name} is gone: NudgedWorker._run_claimed uses it"
    parameters = HELPERS[module][name]
    if parameters is not None:
        assert list(inspect.signature(found).parameters) == parameters, (
            f"{module}.{name} takes other parameters now: update NudgedWorker._run_claimed")


def test_run_job_reads_what_the_claim_reads_in_its_place() -> None:
    # lua/claim.lua does run_job's first round trip: GET the message, INCR the retry key
    # with arq's TTL, ZREM from the abort set. A change here means the claim must follow.
    source = inspect.getsource(Worker.run_job)
    for step in ("pipe.get(job_key_prefix + job_id)", "pipe.incr(retry_key_prefix + job_id)",
                 f"pipe.expire(retry_key_prefix + job_id, {arq_format.RETRY_KEY_TTL})",
                 "pipe.zrem(abort_jobs_ss, job_id)"):
        assert step in source, f"arq's run_job no longer does {step}: update lua/claim.lua"


def test_worker_releases_a_slot_as_the_adapter_expects(worker: Worker) -> None:
    # NudgedWorker takes a slot (sem.acquire, job_counter += 1) and gives it back through
    # _release_sem_dec_counter_on_complete, as arq's start_jobs does.
    worker.job_counter = 1
    before = worker.sem._value
    worker.sem._value -= 1
    worker._release_sem_dec_counter_on_complete()
    assert (worker.job_counter, worker.sem._value) == (0, before)


@pytest.mark.parametrize("launcher", ["arq_cli_settings", "_shared_settings"])
def test_worker_accepts_every_setting_fastproc_passes(launcher: str) -> None:
    from fastproc.worker import launch as worker

    settings = Settings(processes=["workers.examples"])
    kwargs = (worker.arq_cli_settings(settings) if launcher == "arq_cli_settings"
              else worker._shared_settings(settings, None))
    accepted = set(inspect.signature(Worker).parameters)
    unknown = sorted(set(kwargs) - accepted)
    assert not unknown, f"arq's Worker no longer takes {unknown} (the arq CLI drops them)"


@pytest.mark.anyio
async def test_run_job_awaits_on_job_start_in_the_task_that_runs_the_job(
        redis_url: str, key_prefix: str) -> None:
    # keep_leases ties the lease renewal to the task that awaits on_job_start: it must be
    # the task arq keeps in Worker.tasks for the job (the one cancelled at shutdown).
    queue = f"{key_prefix}:contract:{uuid.uuid4().hex[:6]}"
    task_id = f"c{uuid.uuid4().hex}"
    hooked: dict[str, asyncio.Task[Any] | None] = {}
    same: list[bool] = []

    async def on_job_start(ctx: dict[str, Any]) -> None:
        hooked[ctx["job_id"]] = asyncio.current_task()

    async def probe(ctx: dict[str, Any]) -> None:
        same.append(hooked.get(ctx["job_id"]) is worker.tasks.get(ctx["job_id"]))

    settings = Settings(redis_url=redis_url)
    pool, plain = connect_worker(settings), connect(settings)
    worker = Worker(functions=[arq.func(probe, name="contract.probe")], queue_name=queue,
                    redis_pool=pool, handle_signals=False, burst=True, keep_result=0,
                    on_job_start=on_job_start, poll_delay=0.01,
                    health_check_key=f"{queue}:health", job_serializer=dump_job,
                    job_deserializer=load_job)
    try:
        async with plain.pipeline(transaction=True) as pipe:
            enqueue_in(pipe, task_id, queue, "contract.probe")
            await pipe.execute()
        await asyncio.wait_for(worker.async_run(), 30)
        assert same == [True], "arq's run_job no longer awaits on_job_start in its own task"
    finally:
        await plain.delete(queue, arq_format.RETRY_KEY_PREFIX + task_id,
                           arq_format.JOB_KEY_PREFIX + task_id)
        await worker.close()
        await plain.aclose()


@pytest.mark.anyio
async def test_arqs_own_enqueue_writes_what_enqueue_in_writes(redis_url: str,
                                                               key_prefix: str) -> None:
    queue = f"{key_prefix}:contract:{uuid.uuid4().hex[:6]}"
    theirs_id, ours_id = f"c{uuid.uuid4().hex}", f"c{uuid.uuid4().hex}"
    settings = Settings(redis_url=redis_url)
    pool, plain = connect_worker(settings), connect(settings)
    try:
        assert await pool.enqueue_job(RUN_TASK, _job_id=theirs_id, _queue_name=queue)
        async with plain.pipeline(transaction=True) as pipe:
            enqueue_in(pipe, ours_id, queue)
            await pipe.execute()
        theirs = load_job(await pool.get(arq_format.JOB_KEY_PREFIX + theirs_id))
        ours = load_job(await pool.get(arq_format.JOB_KEY_PREFIX + ours_id))
        assert {**theirs, "et": 0} == {**ours, "et": 0}, "arq enqueues another message"
        assert await pool.zscore(queue, theirs_id) and await pool.zscore(queue, ours_id)
        ttl_theirs = await pool.pttl(arq_format.JOB_KEY_PREFIX + theirs_id)
        assert ttl_theirs > 0, "arq's job key has no expiry any more"
    finally:
        await pool.delete(queue, *(arq_format.JOB_KEY_PREFIX + i for i in (theirs_id, ours_id)))
        await pool.aclose()
        await plain.aclose()


def test_outside_the_adapter_fastproc_uses_only_arqs_public_names() -> None:
    package = Path(fastproc.__file__).parent
    adapter = package / "worker" / "arq_loop.py"
    public = set(arq.__all__)
    private = []
    for path in sorted(package.rglob("*.py")):
        if path == adapter:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "arq":
                names = {alias.name for alias in node.names}
                if not names <= public:
                    private.append(f"{path.relative_to(package)}: from {node.module} "
                                   f"import {', '.join(sorted(names - public))}")
            elif isinstance(node, ast.Import) and any(
                    alias.name.split(".")[0] == "arq" for alias in node.names):
                private.append(f"{path.relative_to(package)}: import arq")
    assert not private, f"arq internals outside fastproc.worker.arq_loop: {private}"
