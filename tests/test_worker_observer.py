"""What a worker's runtime tells the observer of its tasks, and its one retry policy:
without Redis, with a stand-in for the jobs service."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis

from fastproc.authoring.registry import Registry
from fastproc.settings import Settings
from fastproc.wire.names import PART_TASK
from fastproc.worker.observer import NO_OBSERVER, TaskObserver
from fastproc.worker.retries import RetryPolicy
from fastproc.worker.runtime import CTX_KEY, Runtime, observed


class _Jobs:
    """The intents `Runtime.fail` calls, each answering as for a running job."""

    async def fail(self, job_id: str, error: dict[str, Any], **_: Any) -> bool:
        return True

    async def subscriber(self, job_id: str) -> None:
        return None


class _Seen:
    """An observer recording what it is told, in order."""

    def __init__(self) -> None:
        self.told: list[str] = []

    async def job_ending(self) -> None:
        self.told.append("ending")

    def job_succeeded(self) -> None:
        self.told.append("succeeded")

    def job_failed(self) -> None:
        self.told.append("failed")

    @contextlib.asynccontextmanager
    async def task(self, task_id: str, kind: str, tries: int) -> AsyncIterator[TaskObserver]:
        self.told.append(f"task {task_id} {kind} {tries}")
        yield self


def _runtime(observer: _Seen | None = None) -> Runtime:
    rt = Runtime.build(Settings(), Registry([]), Redis())  # type: ignore[arg-type]
    rt = dataclasses.replace(rt, jobs=_Jobs())  # type: ignore[arg-type]
    return rt if observer is None else dataclasses.replace(rt, observer=observer)


def test_a_task_fails_its_job_with_its_observer_told_before_and_after() -> None:
    seen = _Seen()
    rt = _runtime(seen)

    async def task(ctx: dict[Any, Any]) -> None:
        assert await ctx[CTX_KEY].fail("j", {"title": "boom"})

    asyncio.run(observed(task, PART_TASK)({CTX_KEY: rt, "job_id": "j:part:3", "job_try": 2}))
    assert seen.told == ["task j:part:3 part 2", "ending", "failed"]


def test_a_job_failed_outside_a_task_tells_no_one() -> None:
    seen = _Seen()
    rt = _runtime(seen)
    assert asyncio.run(rt.fail("j", {"title": "dropped"}))
    assert seen.told == []
    assert rt.task_observer is NO_OBSERVER


def test_a_runtime_without_an_observer_reports_to_the_no_op_one() -> None:
    assert _runtime().observer is NO_OBSERVER


class _Proc:
    max_retries = 2


def test_a_body_that_raised_runs_again_after_2_4_8_seconds_while_it_may() -> None:
    policy = RetryPolicy(max_tries=3, store_retry=1.0)
    proc: Any = _Proc()
    reruns = [policy.rerun(proc, job_try) for job_try in (1, 2, 3)]
    assert [r.defer_score if r else None for r in reruns] == [2000, 4000, None]
    assert [policy.gave_up(proc, job_try) for job_try in (5, 6)] == [False, True]


def test_a_rerun_waits_a_minute_at_most() -> None:
    class Patient:
        max_retries = 10

    rerun = RetryPolicy(max_tries=1, store_retry=0).rerun(Patient(), 9)  # type: ignore[arg-type]
    assert rerun is not None and rerun.defer_score == 60_000


def test_a_write_is_retried_while_redis_is_away_then_stored() -> None:
    tries: list[int] = []

    async def step() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise ConnectionError("away")
        return "stored"

    policy = RetryPolicy(max_tries=1, store_retry=2.0)
    assert asyncio.run(policy.persist(step, "an outcome")) == "stored"
    assert len(tries) == 3
