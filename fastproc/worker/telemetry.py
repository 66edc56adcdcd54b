"""What a worker tells the dashboard and the job pages: its own figures, and each job's
log and task run times.

At start-up (`start`, from the worker's `on_startup`) a worker installs the job log capture
(`fastproc.worker.capture`), gives its `WorkerInsights` to its runtime as the observer of
its tasks (`fastproc.worker.observer`), and starts a heartbeat that writes its figures to
`{p}:worker:{id}` every `BEAT_SECONDS` (the id is its catalogue registration's, so the
dashboard lists the workers the catalogue counts as live): its queue, the processes it
serves there, host and pid, and the tasks it runs now, and the jobs it completed, failed
and handed back for a retry since it started.

Around every task (`WorkerInsights.task`, from `fastproc.worker.runtime.observed`) the
insights count the task, mark the log lines of a fan-out part or merge with its name and
record when such a task ran. Where a task ends its job, the runtime tells the task's
`TaskInsights`: `job_ending` just before it stores the outcome (the job's log is written
first), `job_succeeded` or `job_failed` after it, which count the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from fastproc.ogc.models import StatusCode
from fastproc.settings import Settings
from fastproc.store.logbook import JobLogs, TaskTime
from fastproc.store.record import now_iso
from fastproc.wire.keys import Keys
from fastproc.wire.names import job_of, part_of
from fastproc.worker.arq_loop import Retry
from fastproc.worker.capture import LogCapture

#: Seconds between a worker's reports of its figures; a report lives three of them.
BEAT_SECONDS = 2.0
#: Tasks whose run times are recorded (a plain job's are its record's started/finished).
_TIMED = frozenset({"part", "merge"})


@dataclass(slots=True)
class Tally:
    """A worker's counts since it started."""

    running: int = 0
    done: int = 0
    failed: int = 0
    retried: int = 0


@dataclass(slots=True)
class TaskInsights:
    """One running task, as the runtime reports its job's end (a `TaskObserver`)."""

    insights: WorkerInsights
    job_id: str
    kind: str
    key: str
    started_ms: int
    tries: int
    #: Its run time is recorded (by `job_ending`, if it ends the job).
    timed: bool = False

    def time(self) -> TaskTime:
        self.timed = True
        return TaskTime(self.kind, self.key, self.started_ms, _now_ms(), self.tries)

    async def job_ending(self) -> None:
        await self.insights.ending(self)

    def job_succeeded(self) -> None:
        self.insights.count(StatusCode.SUCCESSFUL)

    def job_failed(self) -> None:
        self.insights.count(StatusCode.FAILED)


def _now_ms() -> int:
    return int(time.time() * 1000)


class WorkerInsights:
    """A worker's figures and its tasks' logs: the `WorkerObserver` of its runtime."""

    def __init__(self, redis: Redis, keys: Keys, *, worker_id: str, queue: str,
                 processes: list[str], capture: LogCapture | None) -> None:
        self.redis = redis
        self.keys = keys
        self.worker_id = worker_id
        self.tally = Tally()
        self.capture = capture
        self._about = {"queue": queue, "processes": ",".join(processes),
                       "host": socket.gethostname(), "pid": str(os.getpid()),
                       "started": now_iso()}
        self._beat: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, settings: Settings, redis: Redis, keys: Keys, *, worker_id: str,
                    processes: list[str]) -> WorkerInsights:
        """Install the log capture and start reporting the figures of a worker serving
        `processes` on the queue of `settings`."""
        capture = None
        if settings.job_log_lines and settings.job_log_bytes:
            capture = LogCapture(JobLogs(redis, keys, max_lines=settings.job_log_lines,
                                         max_bytes=settings.job_log_bytes),
                                 ending_ttl=settings.job_ttl, level=settings.log_level)
            capture.install()
        insights = cls(redis, keys, worker_id=worker_id, queue=settings.queue_name,
                       processes=processes, capture=capture)
        insights._beat = asyncio.create_task(insights._beat_forever(), name="fastproc-insights")
        return insights

    async def stop(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        if self.capture is not None:
            await self.capture.close()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.keys.worker(self.worker_id))

    def count(self, status: StatusCode) -> None:
        if status is StatusCode.SUCCESSFUL:
            self.tally.done += 1
        elif status is StatusCode.FAILED:
            self.tally.failed += 1

    @contextlib.asynccontextmanager
    async def task(self, task_id: str, kind: str, tries: int) -> AsyncIterator[TaskInsights]:
        """Around one task: counted while it runs, its log lines marked with its part,
        its run time recorded, the job's log flushed at its end."""
        job_id = job_of(task_id)
        key = part_of(task_id)[1] if kind == "part" else ""
        running = TaskInsights(self, job_id, kind, key, _now_ms(), tries)
        self.tally.running += 1
        if self.capture is not None:
            self.capture.task_started(job_id)
        label = {"part": f"part {key}" if kind == "part" else kind} if kind in _TIMED else {}
        try:
            with logger.contextualize(**label):
                yield running
        except Retry:
            self.tally.retried += 1
            raise
        finally:
            self.tally.running -= 1
            if self.capture is not None:
                if kind in _TIMED and not running.timed:
                    self.capture.add_time(job_id, running.time())
                self.capture.task_ended(job_id)

    async def ending(self, running: TaskInsights) -> None:
        if self.capture is not None:
            if running.kind in _TIMED:
                self.capture.add_time(running.job_id, running.time())
            await self.capture.job_ending(running.job_id)

    def figures(self) -> dict[str, str]:
        t = self.tally
        return {**self._about, "beat": now_iso(), "running": str(t.running),
                "done": str(t.done), "failed": str(t.failed), "retried": str(t.retried)}

    async def _beat_forever(self) -> None:
        key = self.keys.worker(self.worker_id)
        while True:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.hset(key, mapping=self.figures())
                    pipe.pexpire(key, int(BEAT_SECONDS * 3000))
                    await pipe.execute()
            except (RedisError, OSError) as exc:  # Redis away: report again at the next beat
                logger.warning("cannot report this worker's figures ({})", exc)
            await asyncio.sleep(BEAT_SECONDS)
