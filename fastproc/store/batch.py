"""Group commit: steps asked for while a round trip is in flight go together in the next one.

A worker ending fifty jobs at once, or an API taking a burst of submissions, would make one
Lua call per job: one round trip each, one script invocation each, and one write each to
counters every job touches. `Batcher` sends the first step at once and queues the ones that
come while it is on the wire; the next call takes all of them (up to `limit`), so the cost
per job falls with the load, and a lone step waits for nobody.

    ends = Batcher(send_ends, limit=64)
    outcome = await ends(step)      # one outcome per step, in order

A failed call (a lost connection, a script error) fails every step of the batch: each caller
handles the error as it would its own call's (a Lua script's writes before an error are not
undone, so a step is never sent twice behind its caller's back).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

S = TypeVar("S")
R = TypeVar("R")

#: Steps in one call, at most: a Lua call holds Redis while it runs.
DEFAULT_LIMIT = 64


class Batcher(Generic[S, R]):
    """Sends steps through `send` (steps in, one outcome per step out), batching the steps
    that are asked for while a call is in flight."""

    def __init__(self, send: Callable[[Sequence[S]], Awaitable[Sequence[R]]], *,
                 limit: int = DEFAULT_LIMIT) -> None:
        self._send = send
        self._limit = limit
        self._waiting: list[tuple[S, asyncio.Future[R]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def __call__(self, step: S) -> R:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[R] = loop.create_future()
        sender = self._sender
        if sender is None or sender.done() or sender.get_loop() is not loop:
            # None in flight (or only on an event loop that is gone, in tests).
            self._waiting = [w for w in self._waiting if w[1].get_loop() is loop]
            self._sender = loop.create_task(self._drain(), name="fastproc-batch")
        self._waiting.append((step, outcome))
        return await outcome

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[:self._limit]
                del self._waiting[:self._limit]
                await self._deliver(batch)
        finally:
            if self._sender is asyncio.current_task():
                self._sender = None

    async def _deliver(self, batch: list[tuple[S, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._send([step for step, _ in batch])
        except BaseException as exc:  # every waiter gets what the call raised
            _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)


def _fail(batch: list[tuple[S, asyncio.Future[R]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
