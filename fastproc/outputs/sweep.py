"""Deleting the objects of expired jobs: every worker sweeps the expiry index now and then,
in small batches.

Several workers may sweep at once: each deletes what it read as due and then takes it out
of the index; deleting an object twice is no error, so two sweepers meeting on one batch
only repeat work. An object is deleted before it leaves the index, so a sweeper that dies
between the two leaves an entry the next sweep completes, never an object nothing points to.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from loguru import logger
from redis.exceptions import RedisError

from fastproc.outputs.objects import OutputStore, OutputStoreError
from fastproc.store.output_index import OutputIndex

#: Objects deleted per round; a round repeats at once while it finds a full batch.
SWEEP_BATCH = 100
#: Seconds between sweeps of one worker.
SWEEP_INTERVAL = 30.0


async def sweep_once(store: OutputStore, index: OutputIndex, now_ms: int | None = None,
                     batch: int = SWEEP_BATCH) -> int:
    """Delete up to `batch` due objects; how many were due."""
    due = await index.due(int(time.time() * 1000) if now_ms is None else now_ms, batch)
    await store.delete(due)
    await index.forget(due)
    return len(due)


class Sweeper:
    """The worker's sweep, as a task it owns from start-up to shutdown."""

    def __init__(self, store: OutputStore, index: OutputIndex,
                 interval: float = SWEEP_INTERVAL) -> None:
        self.store = store
        self.index = index
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fastproc-output-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                while await sweep_once(self.store, self.index) == SWEEP_BATCH:
                    pass
            except (OutputStoreError, RedisError, OSError) as exc:
                logger.warning("output sweep failed, will try again: {}", exc)
            await asyncio.sleep(self.interval)
