"""The execute use case without HTTP: an `Executor` over the session's Valkey and worker
ends each request in the outcome a route renders, or raises the request's OGC exception."""

from __future__ import annotations

import ast
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import fastproc
from fastproc.execution import Asked, Created, Executor, Failed, Finished, StillRunning
from fastproc.jobs.service import JobService
from fastproc.ogc.exceptions import InvalidParameterValue, InvalidRequest
from fastproc.ogc.limits import Limits
from fastproc.ogc.models import StatusCode
from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.catalogue import Catalogue, CataloguedProcess
from fastproc.store.event_hub import EventHub
from fastproc.store.result_document import decode_results, document_value
from fastproc.wire.keys import Keys

ASKED = Asked(base="http://testserver")
PACKAGE = Path(fastproc.__file__).parent


@pytest.fixture
async def executor(redis_url: str, key_prefix: str, worker: object) -> AsyncIterator[Executor]:
    settings = Settings(redis_url=redis_url, key_prefix=key_prefix,
                        queue_name=f"{key_prefix}:queue", sync_wait=20,
                        allow_private_addresses=True)
    redis = connect(settings)
    listener = connect(settings, socket_timeout=None)
    keys = Keys(settings.key_prefix)
    events = EventHub(listener, keys.events)
    jobs = JobService.connect(redis, keys, job_ttl=settings.job_ttl,
                              active_ttl=settings.active_job_ttl, cache_ttl=settings.cache_ttl)
    limits = Limits(settings.max_inputs, settings.max_array_items,
                    settings.max_string_bytes, settings.max_json_depth)
    catalogue = Catalogue(redis, keys, settings.catalogue_refresh)
    try:
        yield Executor(settings, limits, catalogue, events, jobs)
    finally:
        await events.stop()
        await redis.aclose()
        await listener.aclose()


async def _process(executor: Executor, process_id: str) -> CataloguedProcess:
    found = await executor.catalogue.executable(process_id)
    assert found is not None
    return found


def _value(result: bytes, name: str = "value") -> Any:
    return document_value(decode_results(result)[name])


@pytest.mark.anyio
async def test_async_execution_is_created_and_its_job_exists(executor: Executor) -> None:
    echo = await _process(executor, "echo")
    outcome = await executor.execute(
        echo, {"inputs": {"value": uuid.uuid4().hex}},
        Asked(base=ASKED.base, prefers_async=True, no_cache=True))
    assert isinstance(outcome, Created)
    assert outcome.status is StatusCode.ACCEPTED
    record = await executor.jobs.get(outcome.job_id)
    assert record is not None and record.process_id == "echo"


@pytest.mark.anyio
async def test_sync_execution_finishes_with_the_result_of_its_job(executor: Executor) -> None:
    echo = await _process(executor, "echo")
    value = uuid.uuid4().hex
    outcome = await executor.execute(echo, {"inputs": {"value": value}}, ASKED)
    assert isinstance(outcome, Finished)
    assert outcome.job_id is not None
    assert _value(outcome.result) == value


@pytest.mark.anyio
async def test_a_cache_hit_finishes_without_a_job(executor: Executor) -> None:
    echo = await _process(executor, "echo")
    request = {"inputs": {"value": uuid.uuid4().hex}}
    first = await executor.execute(echo, request, ASKED)
    again = await executor.execute(echo, request, ASKED)
    assert isinstance(first, Finished) and first.job_id is not None
    assert isinstance(again, Finished) and again.job_id is None
    assert again.result == first.result


@pytest.mark.anyio
async def test_an_async_cache_hit_creates_a_successful_job(executor: Executor) -> None:
    echo = await _process(executor, "echo")
    request = {"inputs": {"value": uuid.uuid4().hex}}
    await executor.execute(echo, request, ASKED)
    outcome = await executor.execute(echo, request, Asked(base=ASKED.base, prefers_async=True))
    assert isinstance(outcome, Created) and outcome.status is StatusCode.SUCCESSFUL


@pytest.mark.anyio
async def test_a_failing_process_ends_failed_with_its_error(executor: Executor) -> None:
    fail = await _process(executor, "fail")
    outcome = await executor.execute(fail, {"inputs": {"message": "no luck"}}, ASKED)
    assert isinstance(outcome, Failed)
    assert outcome.record.status is StatusCode.FAILED
    assert "no luck" in str((outcome.record.error or {}).get("detail"))


@pytest.mark.anyio
async def test_a_sync_wait_that_runs_out_leaves_the_job_running(executor: Executor) -> None:
    echo = await _process(executor, "echo")
    executor.settings = executor.settings.model_copy(update={"sync_wait": 0.2})
    outcome = await executor.execute(echo, {"inputs": {"value": "slow", "pause": 2}}, ASKED)
    assert isinstance(outcome, StillRunning)
    assert not outcome.record.status.terminal


@pytest.mark.anyio
async def test_a_body_that_is_no_execute_request_is_invalid(executor: Executor) -> None:
    echo = await _process(executor, "echo")
    with pytest.raises(InvalidRequest):
        await executor.execute(echo, {"inputs": 3}, ASKED)


@pytest.mark.anyio
async def test_an_unknown_output_is_an_invalid_parameter(executor: Executor) -> None:
    echo = await _process(executor, "echo")
    with pytest.raises(InvalidParameterValue, match="unknown output 'nope'"):
        await executor.execute(echo, {"inputs": {"value": "x"}, "outputs": {"nope": {}}}, ASKED)


def _imports(path: Path) -> set[str]:
    """The modules a source file imports, at any depth of its code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_use_case_has_no_http_in_it() -> None:
    for path in (PACKAGE / "execution").glob("*.py"):
        web = {m for m in _imports(path)
               if m.split(".")[0] in ("fastapi", "starlette") or m.startswith("fastproc.api")}
        assert not web, f"{path.name} imports {sorted(web)}"


def test_no_route_imports_another_route() -> None:
    for path in (PACKAGE / "api" / "routes").glob("*.py"):
        routes = {m for m in _imports(path) if m.startswith("fastproc.api.routes")}
        assert not routes, f"{path.name} imports {sorted(routes)}"
