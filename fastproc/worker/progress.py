"""The `progress` callable handed to process bodies: cheap to call, coalesced writes."""

from __future__ import annotations

import asyncio
import threading

from loguru import logger
from redis.exceptions import RedisError

from fastproc.jobs.service import JobService

#: Characters of a progress message kept; the rest is cut (it travels in every event).
MAX_MESSAGE_CHARS = 1000


def clean_message(message: object) -> str | None:
    """A progress message every reader can take: text, valid UTF-8, bounded.

    A process may hand over bytes, lone surrogates or any object; the message goes into the
    record and into every event, so it is made safe here, at its source.
    """
    if message is None:
        return None
    if isinstance(message, bytes | bytearray):
        text = bytes(message).decode("utf-8", "replace")
    else:
        text = str(message)
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text[:MAX_MESSAGE_CHARS]


def clean_percent(percent: object, latest: tuple[int, str | None] | None) -> int:
    """0..100 from whatever number a process reports; a non-number keeps the last value."""
    try:
        value = float(percent)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if value != value:  # NaN
        return latest[0] if latest else 0
    return int(max(0.0, min(100.0, value)))


class ProgressReporter:
    """Records the latest report and writes it to the job record in the background.

    Calls from the event loop and from worker threads (sync bodies) are both safe; a burst
    of calls costs one Redis write per round trip, not one per call.
    """

    def __init__(self, jobs: JobService, job_id: str) -> None:
        self.jobs = jobs
        self.job_id = job_id
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        #: The last report, kept after it is written: a non-number keeps its percent.
        self._latest: tuple[int, str | None] | None = None
        #: The report still to write (None once written): a burst coalesces here.
        self._pending: tuple[int, str | None] | None = None
        self._task: asyncio.Task[None] | None = None

    def __call__(self, percent: float, message: str | None = None) -> None:
        text = clean_message(message)
        if threading.get_ident() == self._loop_thread:
            self._set(percent, text)
        else:
            self.loop.call_soon_threadsafe(self._set, percent, text)

    def _set(self, percent: object, message: str | None) -> None:
        """On the loop's thread: the percent is read against the last report there, in
        the order the reports arrive."""
        self._latest = self._pending = (clean_percent(percent, self._latest), message)
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending is not None:
            percent, message = self._pending
            self._pending = None
            try:
                await self.jobs.report_progress(self.job_id, percent, message)
            except RedisError as exc:
                logger.warning("progress of job {} not recorded: {}", self.job_id, exc)

    async def drain(self) -> None:
        """Wait for the last report to be written, so it lands before the final state."""
        if self._task is not None:
            await self._task
