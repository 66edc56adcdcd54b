"""Testing processes: run one in-process as a worker would, or a whole app in the test.

`run_process` needs no server and no Redis: it checks the inputs exactly as
`POST /processes/{id}/execution` does (same validator, same OGC exceptions), decodes them
as the worker does, runs the body (a fan-out as split, parts and merge) and encodes the
outputs as the worker stores them, so a test catches what the server would refuse.

```python
from fastproc.testing import run_process

async def test_add() -> None:
    run = await run_process(add, {"a": 1, "b": 2})
    assert run == {"sum": 3}
```

`app_client` starts the real app and an in-loop worker on an embedded Valkey, for a test
that goes over HTTP end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import anyio.to_thread
import httpx
import orjson
from pydantic import ValidationError

from fastproc.authoring.fanout import FanOutProcess, to_jsonable
from fastproc.authoring.process import BaseProcess, Progress, no_progress
from fastproc.authoring.registry import Registry
from fastproc.execution import check_outputs
from fastproc.ogc.exceptions import InvalidParameterValue, InvalidRequest, ProcessError
from fastproc.ogc.inputs import InputValidator, references
from fastproc.ogc.limits import Limits
from fastproc.ogc.models import ExecuteRequest, first_error
from fastproc.outputs.placement import is_stream, read_whole
from fastproc.settings import Settings
from fastproc.store.catalogue import CataloguedProcess, CatalogueEntry
from fastproc.store.result_document import encode_results, results_document
from fastproc.worker.invoke import (
    SoftTimeLimitExceeded,
    decode_inputs,
    error_of,
    run_with_limits,
)
from fastproc.worker.progress import clean_message, clean_percent

__all__ = ["ProcessRun", "ProgressRecorder", "ProgressReport", "app_client", "as_process",
           "run_process"]

T = TypeVar("T")

#: Seconds a started worker may take to publish its processes.
_PUBLISH_WAIT = 30.0

#: What `run_process` and `app_client` accept: a `@process` function, a `BaseProcess`
#: subclass (fan-out ones included) or an instance of one.
ProcessLike = BaseProcess | type[BaseProcess]


class ProgressReport(NamedTuple):
    """One call of `progress(percent, message)`, as the job record would show it."""

    percent: int
    message: str | None


class ProgressRecorder:
    """A `Progress` that keeps every report, for calling a process body yourself.

    >>> progress = ProgressRecorder()
    >>> progress(150, "done")
    >>> progress.reports
    [ProgressReport(percent=100, message='done')]
    """

    def __init__(self) -> None:
        self.reports: list[ProgressReport] = []

    def __call__(self, percent: float, message: str | None = None) -> None:
        # Cleaned as the worker cleans it for the job record. Every call is kept (the
        # worker coalesces a burst), so a test sees each step.
        latest = self.reports[-1] if self.reports else None
        self.reports.append(ProgressReport(clean_percent(percent, latest),
                                           clean_message(message)))


@dataclass(frozen=True, slots=True, eq=False)  # Mapping compares by outputs
class ProcessRun(Mapping[str, Any]):
    """The outcome of `run_process`: a read-only mapping of output id -> value.

    `run == {"sum": 3}` compares the outputs; the rest is there when a test needs it.
    """

    #: Each (requested) output as the body returned it: bytes stay bytes, models stay models.
    outputs: dict[str, Any]
    #: The outputs as `response=document` answers them (JSON; binary as base64).
    document: dict[str, Any]
    #: Every progress report, in order (for a fan-out: "k of n parts done" per part).
    progress: list[ProgressReport] = field(default_factory=list)
    #: A fan-out's (part key, part result) in split order, each as the merge received it.
    parts: list[tuple[str, Any]] = field(default_factory=list)

    def __getitem__(self, name: str) -> Any:
        return self.outputs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.outputs)

    def __len__(self) -> int:
        return len(self.outputs)


def as_process(process: ProcessLike) -> BaseProcess:
    """The process object a worker would register for a function, class or instance."""
    if isinstance(process, BaseProcess):
        return process
    if isinstance(process, type) and issubclass(process, BaseProcess):
        return process()
    raise TypeError(f"{process!r} is not a process: decorate it with @process or "
                    "subclass BaseProcess")


async def run_process(
    process: ProcessLike,
    inputs: Mapping[str, Any] | None = None,
    *,
    outputs: Mapping[str, Any] | Iterable[str] | None = None,
    settings: Settings | None = None,
) -> ProcessRun:
    """Run a process in this event loop, with the checks of the HTTP API and the worker.

    `inputs` is the `inputs` member of an execute request (JSON values; binary as
    `{"value": <base64>, "encoding": "base64"}`), `outputs` its `outputs` member or a list of
    output ids. Bad input raises the OGC exception the API would answer with
    (`InvalidParameterValue`, `InvalidRequest`); a soft time limit raises `ProcessError`;
    any other exception of the body reaches the test unchanged, traceback and all.
    `settings` gives the limits (default: `Settings()`, from `FASTPROC_*` variables).

    ```python
    run = await run_process(sleep, {"seconds": 0.01})
    assert run["slept"] == 0.01 and run.progress[0] == (0, "step 0")
    ```
    """
    proc = as_process(process)
    settings = settings or Settings()
    request = _execute_request(inputs or {}, outputs)
    Limits(settings.max_inputs, settings.max_array_items, settings.max_string_bytes,
           settings.max_json_depth).check(request.inputs)
    validator = InputValidator(proc.description)
    validator.validate(request.inputs)
    if request.outputs:
        _check_requested_outputs(request, proc)
    received = request.inputs
    if references(received):
        from fastproc.worker.fetch import resolve_references

        received = await resolve_references(received, proc.description, validator, settings)
    progress = ProgressRecorder()
    limits = _Limits(proc.timeout or settings.job_timeout, settings.hard_timeout_grace)
    parts: list[tuple[str, Any]] = []
    if isinstance(proc, FanOutProcess):
        produced, parts = await _run_fanout(proc, received, progress, limits)
    else:
        produced = await limits.run(f"process '{proc.id}'",
                                    proc.run(decode_inputs(received), progress))
    return _finish(proc, request, await _read_streams(produced, settings), settings,
                   progress, parts)


def _execute_request(inputs: Mapping[str, Any],
                     outputs: Mapping[str, Any] | Iterable[str] | None) -> ExecuteRequest:
    """The execute request these arguments make, as the API would parse it from JSON."""
    wanted = outputs if outputs is None or isinstance(outputs, Mapping) else {
        name: {} for name in outputs}
    try:
        body = orjson.loads(orjson.dumps({"inputs": inputs, "outputs": wanted}))
    except TypeError as exc:
        raise InvalidRequest(
            f"inputs travel as JSON: {exc} (give bytes as "
            '{"value": base64.b64encode(data).decode(), "encoding": "base64"})') from exc
    try:
        return ExecuteRequest.model_validate(body)
    except ValidationError as exc:
        where, what = first_error(exc)
        raise InvalidRequest(f"execute request member '{where}': {what}") from exc


def _check_requested_outputs(request: ExecuteRequest, proc: BaseProcess) -> None:
    """The execute use case's own check, so the two can never disagree."""
    entry = CatalogueEntry(description=proc.description, queue="", deterministic=False)
    check_outputs(request, CataloguedProcess.of(entry))


@dataclass(frozen=True, slots=True)
class _Limits:
    """The worker's soft limit and grace, applied to each body call as the worker does."""

    soft: float
    grace: float

    async def run(self, context: str, body: Awaitable[T]) -> T:
        with _as_the_worker_reports(context):
            return await run_with_limits(_awaited(body), self.soft, self.grace)


async def _awaited(body: Awaitable[T]) -> T:
    return await body


@contextlib.contextmanager
def _as_the_worker_reports(context: str) -> Iterator[None]:
    """Errors the worker turns into OGC exceptions, turned into the same ones here."""
    try:
        yield
    except ValidationError as exc:
        raise InvalidParameterValue(str(error_of(exc, context)["detail"])) from exc
    except SoftTimeLimitExceeded as exc:
        raise ProcessError(f"{context} {exc}") from exc


async def _run_fanout(proc: FanOutProcess, received: dict[str, Any], progress: Progress,
                      limits: _Limits) -> tuple[Mapping[str, Any], list[tuple[str, Any]]]:
    """Split, every part at once (as a pool of workers would), then merge in split order.

    Items and part results go through JSON as they do through Redis, so a part that
    returns something a worker could not store fails here too.
    """
    inputs = decode_inputs(received)
    with _as_the_worker_reports(f"split of process '{proc.id}'"):
        split = await proc.parts(inputs)
    items = [(key, orjson.loads(orjson.dumps(item))) for key, item in split]
    part_inputs = inputs if proc.parts_need_inputs else {}
    done = 0

    async def part(key: str, item: Any) -> Any:
        nonlocal done
        result = await limits.run(f"part {key} of process '{proc.id}'",
                                  proc.run_part(key, item, part_inputs, no_progress))
        done += 1
        progress(done * 100 // len(items), f"{done} of {len(items)} parts done")
        return orjson.loads(orjson.dumps(to_jsonable(result)))

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(part(key, item)) for key, item in items]
    except BaseExceptionGroup as failed:
        # The first failure, as the worker fails the job with the first part that fails.
        raise failed.exceptions[0] from None
    parts = [(key, task.result()) for (key, _), task in zip(items, tasks, strict=True)]
    merged = await limits.run(f"merge of process '{proc.id}'", proc.merge(parts, inputs))
    return merged, parts


async def _read_streams(produced: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Outputs returned as a file (`Path`) or an async iterator of bytes, read as the
    worker reads them without an output store: into bytes, up to the result limit, so a
    test sees the bytes a client would download (and an iterator that yields something
    else fails as it would in the worker)."""
    return {name: await read_whole(value, name, settings.max_result_bytes)
            if is_stream(value) else value for name, value in produced.items()}


def _finish(proc: BaseProcess, request: ExecuteRequest, produced: Mapping[str, Any],
            settings: Settings, progress: ProgressRecorder,
            parts: list[tuple[str, Any]]) -> ProcessRun:
    """The outputs encoded as the worker stores them (so an unstorable one fails here)."""
    encoded = encode_results(produced, proc.description.outputs)
    if encoded.size > settings.max_result_bytes:
        raise ProcessError(f"the result of process '{proc.id}' is {encoded.size} bytes, over "
                           f"the limit of {settings.max_result_bytes} (FASTPROC_MAX_RESULT_BYTES)")
    wanted = set(request.outputs or produced)
    document = {name: value for name, value in results_document(encoded.document).items()
                if name in wanted}
    return ProcessRun(outputs={k: v for k, v in produced.items() if k in wanted},
                      document=document, progress=progress.reports, parts=parts)


@contextlib.asynccontextmanager
async def app_client(
    processes: Iterable[ProcessLike] | None = None,
    *,
    settings: Settings | None = None,
    request_timeout: float = 30.0,
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of a real fastproc app with a worker in this event loop.

    `processes` are served (default: the modules of `settings.processes`). Redis is an
    embedded Valkey started for the test unless `settings.redis_url` names one; the app and
    its worker use a key prefix of their own, deleted at the end.

    ```python
    async with app_client([add]) as client:
        response = await client.post("/processes/add/execution",
                                      json={"inputs": {"a": 1, "b": 2}})
    ```
    """
    base = settings or Settings()
    registry = (Registry.from_modules(base.processes) if processes is None
                else Registry(as_process(p) for p in processes))
    async with contextlib.AsyncExitStack() as stack:
        redis_url = base.redis_url or await _embedded_valkey(stack)
        prefix = f"{base.key_prefix}:test-{uuid.uuid4().hex[:8]}"
        own = base.model_copy(update={"redis_url": redis_url, "key_prefix": prefix,
                                      "queue_name": f"{prefix}:queue"})
        if base.redis_url:
            stack.push_async_callback(_delete_keys, own)
        await _start_workers(stack, own, registry)
        from fastproc.api.app import create_app

        app = create_app(own)
        await stack.enter_async_context(app.router.lifespan_context(app))
        yield await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost",
            timeout=request_timeout))


async def _embedded_valkey(stack: contextlib.AsyncExitStack) -> str:
    """Start (and later stop) an embedded Valkey off the event loop: both block a moment."""
    from fastproc.embedded import embedded_valkey

    valkey = contextlib.ExitStack()
    url: str = await anyio.to_thread.run_sync(valkey.enter_context, embedded_valkey())
    stack.push_async_callback(anyio.to_thread.run_sync, valkey.close)
    return url


async def _start_workers(stack: contextlib.AsyncExitStack, settings: Settings,
                         registry: Registry) -> None:
    """One in-loop worker per queue the processes use, returned once they are published."""
    from fastproc.worker.launch import create_worker

    by_queue: dict[str, list[BaseProcess]] = {settings.queue_name: []}
    for proc in registry:
        by_queue.setdefault(proc.queue or settings.queue_name, []).append(proc)
    tasks = []
    for queue, procs in by_queue.items():
        # A worker publishes its processes on its own queue: each gets only its own.
        worker = create_worker(settings.model_copy(update={"queue_name": queue}),
                               Registry(procs), handle_signals=False)
        task = asyncio.create_task(worker.async_run(), name=f"fastproc-worker-{queue}")
        stack.push_async_callback(_stop_worker, worker, task)
        tasks.append(task)
    await _wait_published(settings, registry, tasks)


async def _stop_worker(worker: Any, task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # arq's close calls redis-py's deprecated `close`; the warning is arq's, not the user's,
    # and would otherwise show in every test run that uses `app_client`.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r".*\baclose\(\)", DeprecationWarning)
        await worker.close()


async def _wait_published(settings: Settings, registry: Registry,
                          workers: list[asyncio.Task[None]]) -> None:
    """Wait until the catalogue lists every process (the API serves only what it lists)."""
    from fastproc.redis import connect
    from fastproc.store.catalogue import Catalogue
    from fastproc.wire.keys import Keys

    wanted = {p.id for p in registry}
    redis = connect(settings)
    catalogue = Catalogue(redis, Keys(settings.key_prefix), refresh=0)
    try:
        with anyio.fail_after(_PUBLISH_WAIT):
            while not wanted <= {p.description.id for p in await catalogue.all()}:
                for task in workers:
                    if task.done():
                        task.result()  # its start-up error, if any
                        raise RuntimeError("a worker stopped before publishing its processes")
                await asyncio.sleep(0.01)
    finally:
        await redis.aclose()


async def _delete_keys(settings: Settings) -> None:
    from fastproc.redis import connect

    redis = connect(settings)
    try:
        async for key in redis.scan_iter(match=f"{settings.key_prefix}:*", count=1000):
            await redis.delete(key)
    finally:
        await redis.aclose()
