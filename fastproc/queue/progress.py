"""The `progress` callable handed to process bodies: cheap to call, coalesced writes."""

from __future__ import annotations

import asyncio
import threading

from loguru import logger
from redis.exceptions import RedisError

from fastproc.jobs.store import JobStore


class ProgressReporter:
    """Records the latest report and writes it to the job record in the background.

    Calls from the event loop and from worker threads (sync bodies) are both safe; a burst
    of calls costs one Redis write per round trip, not one per call.
    """

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._latest: tuple[int, str | None] | None = None
        self._task: asyncio.Task[None] | None = None

    def __call__(self, percent: float, message: str | None = None) -> None:
        value = (max(0, min(100, int(percent))), message)
        if threading.get_ident() == self._loop_thread:
            self._set(value)
        else:
            self.loop.call_soon_threadsafe(self._set, value)

    def _set(self, value: tuple[int, str | None]) -> None:
        self._latest = value
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        while self._latest is not None:
            percent, message = self._latest
            self._latest = None
            try:
                await self.store.set_progress(self.job_id, percent, message)
            except RedisError as exc:
                logger.warning("progress of job {} not recorded: {}", self.job_id, exc)

    async def drain(self) -> None:
        """Wait for the last report to be written, so it lands before the final state."""
        if self._task is not None:
            await self._task
