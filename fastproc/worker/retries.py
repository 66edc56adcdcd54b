"""When a worker tries again and when it gives up: one policy, on tenacity, for every task
(job, fan-out part, workflow node) and every write of a job's outcome.

Two kinds of failure are retried:

- a process body that raised is run again by arq (`rerun`: a `Retry` deferred 2, 4, 8 ...
  60 s) as long as the process allows (`max_retries`); a task is given up once its tries
  pass `FASTPROC_MAX_TRIES` (its worker died each time) plus those re-runs (`gave_up`);
- a write of an outcome while Redis is away is tried again in the worker (`persist`:
  0.1, 0.2, 0.4 ... 5 s apart) for `FASTPROC_STORE_RETRY` seconds, rather than the job
  being run again in full once Redis is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from arq import Retry
from loguru import logger
from redis.exceptions import RedisError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)
from tenacity.wait import wait_base

from fastproc.authoring.process import BaseProcess
from fastproc.settings import Settings

T = TypeVar("T")

#: How long arq waits before the n-th re-run of a body that raised: 2**n s, at most 60.
RERUN_WAIT = wait_exponential(multiplier=2, max=60)
#: How long `persist` waits after its n-th failed write: 0.1 * 2**(n-1) s, at most 5.
STORE_WAIT = wait_exponential(multiplier=0.1, max=5)
#: What `persist` retries: Redis away (a refused or reset connection is an `OSError`).
STORE_ERRORS = (RedisError, OSError)


def _wait(wait: wait_base, attempt: int) -> float:
    """`wait` after failed attempt number `attempt` (from 1), outside a retry loop."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    return float(wait(state))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    #: Tries of a task whose worker died each time (`FASTPROC_MAX_TRIES`).
    max_tries: int
    #: Seconds a write of an outcome is retried while Redis is away (`FASTPROC_STORE_RETRY`).
    store_retry: float

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(settings.max_tries, settings.store_retry)

    def tries_allowed(self, proc: BaseProcess) -> int:
        """Every try a task of `proc` may take: its worker dying, or its body raising."""
        return self.max_tries + proc.max_retries

    def gave_up(self, proc: BaseProcess, job_try: int) -> bool:
        """Try `job_try` is past `tries_allowed`: the task fails its job instead of running."""
        return job_try > self.tries_allowed(proc)

    def rerun(self, proc: BaseProcess, job_try: int) -> Retry | None:
        """The `Retry` that has arq run again a body of `proc` that raised on try `job_try`,
        or None once its re-runs are spent (the error is then the job's)."""
        if job_try > proc.max_retries:
            return None
        return Retry(defer=_wait(RERUN_WAIT, job_try))

    async def persist(self, step: Callable[[], Awaitable[T]], what: str) -> T:
        """Run a write of `what`, retrying with backoff while Redis is away.

        A finished job keeps its outcome in the worker for up to `store_retry` seconds
        rather than being re-run in full once Redis is back; past that the error goes up
        and the task is handed back (a re-run). The first try is a plain call: the retry
        machinery is built only once a try has failed.
        """
        try:
            return await step()
        except STORE_ERRORS as exc:
            return await self._persist_after(exc, time.monotonic(), step, what)

    async def _persist_after(self, error: BaseException, failed_at: float,
                             step: Callable[[], Awaitable[T]], what: str) -> T:
        """`persist` once its first try failed at `failed_at`: back off, then try again
        until the budget, counted from the first try, is spent."""
        budget = self.store_retry
        if budget <= 0:
            raise error
        first = min(_wait(STORE_WAIT, 1), budget)
        logger.warning("cannot store {} ({}); retrying in {:.1f}s", what, error, first)
        await asyncio.sleep(first)
        left = budget - (time.monotonic() - failed_at)

        def wait(state: RetryCallState) -> float:
            """The backoff after the first (already waited), cut to the budget left: the
            last try comes at its end."""
            backoff = _wait(STORE_WAIT, state.attempt_number + 1)
            return max(0.0, min(backoff, left - (state.seconds_since_start or 0.0)))

        def log(state: RetryCallState) -> None:
            failure = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            logger.warning("cannot store {} ({}); retrying in {:.1f}s", what, failure, delay)

        async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(STORE_ERRORS),
                stop=stop_after_delay(max(0.0, left)), wait=wait, before_sleep=log,
                reraise=True):
            with attempt:
                return await step()
        raise AssertionError("unreachable: the last attempt returns or raises")
