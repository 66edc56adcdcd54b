"""Job log capture in a worker: what is logged while a job's task runs goes to the job's log.

Every task runs under `logger.contextualize(job_id=...)` (`fastproc.worker.tasks`), so a
loguru sink added at the worker's start-up sees which job each record belongs to, whether
the process logged it with loguru or with the standard `logging` (bridged into loguru with
the same context by `fastproc._loguru`'s bridge, which `fastproc.logging_setup` installs
under `fastproc worker` and this module when nothing else did). Records of fastproc's own
modules are kept too, marked as such; a record with an exception keeps the frames of the
process's code only (`process_frames`).

Lines are buffered per job and written in batches, one Lua call per job and flush
(`fastproc.store.logbook`): every `FLUSH_SECONDS` while the job runs, and just before a task
ends the job (`job_ending`, called where the worker stores the outcome), so the last lines
are readable once the job has ended and the log gets the job's final TTL. A job that logs
nothing costs nothing; the run times of a fan-out's parts go with the next flush, so the
parts a worker ends within one interval cost one write. The sink may be called from worker
threads (sync process bodies): the buffers are guarded by a lock; Redis is written from
the event loop only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
import traceback
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loguru import logger
from redis.exceptions import RedisError

from fastproc._loguru import StdToLoguru, routes_to_loguru
from fastproc.store.logbook import JobLogs, LogLine, Source, TaskTime

if TYPE_CHECKING:
    from loguru import Message, Record

#: Seconds between writes of a running job's new lines.
FLUSH_SECONDS = 0.5
#: Characters of one message (or traceback) kept; the rest is cut with a mark.
LINE_CHARS = 16_384
#: Seconds a flush may take before it is given up (the next one carries the lines).
FLUSH_TIMEOUT = 5.0
#: Modules whose records are fastproc's own lines, not the process's.
_OWN_MODULES = ("fastproc", "arq")


def _package_dir(module: Any) -> str:
    return str(Path(module.__file__).resolve().parent)


@cache
def _plumbing() -> tuple[str, ...]:
    """Directories of code that runs a process but is not the process: fastproc, asyncio,
    anyio (sync bodies in threads) and the standard library's thread pools. (arq's frames
    are never among them: fastproc catches a process's error below them.)"""
    import concurrent.futures

    import anyio

    # The package's directory from this file's place in it (two levels up), not by importing
    # the package's root, which imports the worker.
    own = str(Path(__file__).resolve().parent.parent) + "/"
    packages = [own, *(_package_dir(m) + "/" for m in (asyncio, anyio, concurrent.futures))]
    modules = [str(Path(m.__file__ or "").resolve()) for m in (threading, contextlib)]
    return (*packages, *modules)


@cache
def _roots() -> list[Path]:
    """Where modules are imported from, deepest first (for `_shown`)."""
    found = {Path(entry or ".").resolve() for entry in sys.path}
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _shown(filename: str) -> str:
    """A source file as its module's path (`workers/examples.py`), not where this server
    keeps it: the reader needs the one, and should not learn the other."""
    path = Path(filename).resolve()
    for root in _roots():
        if path.is_relative_to(root):
            return str(path.relative_to(root))
    return path.name


def process_frames(error: BaseException, tb: TracebackType | None) -> str:
    """The traceback of `error` with fastproc's and the event loop's frames left out: what
    the process's author needs, not how fastproc ran it."""
    plumbing = _plumbing()
    frames = [
        traceback.FrameSummary(_shown(f.filename), f.lineno, f.name, line=f.line)
        for f in traceback.extract_tb(tb)
        if not str(Path(f.filename).resolve()).startswith(plumbing)]
    text = "".join(traceback.format_list(frames))
    return (("Traceback (process frames):\n" + text) if frames else "") + "".join(
        traceback.format_exception_only(type(error), error)).rstrip()


def _cut(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS] + " …[cut]"


def line_of(record: Record) -> LogLine:
    """A loguru record as a line of its job's log."""
    name = record["extra"].get("logger") or record["name"] or ""
    own = name.split(".", 1)[0] in _OWN_MODULES
    exception = record["exception"]
    tb = None
    if exception is not None and exception.value is not None:
        tb = _cut(process_frames(exception.value, exception.traceback))
    time = record["time"].astimezone(UTC).isoformat(timespec="milliseconds")
    return LogLine(time=time.replace("+00:00", "Z"), level=record["level"].name,
                   message=_cut(record["message"]),
                   source=Source.FASTPROC if own else Source.PROCESS,
                   part=record["extra"].get("part"), logger=name or None, traceback=tb)


def _job_of(record: Record) -> str | None:
    job = record["extra"].get("job_id")
    return job if isinstance(job, str) and job not in ("", "-") else None


def _in_a_job(record: Record) -> bool:
    return _job_of(record) is not None


@dataclass
class _Pending:
    """What waits to be written for one job, and how many of its tasks run here."""

    lines: deque[bytes]
    trace: dict[str, bytes] = field(default_factory=dict)
    #: Lines that did not fit the buffer between two flushes (counted as dropped).
    lost: int = 0
    tasks: int = 0
    #: Something of this job was written by this worker (its TTL follows the job's).
    wrote: bool = False


class LogCapture:
    """The capture of one worker: `install` at start-up, `close` at shutdown.

    `ending_ttl`: the TTL (seconds) a job gets when it ends, given to its log by the write
    just before (`job_ending`): its last lines are there as soon as it has ended, and the
    log goes with it.
    """

    def __init__(self, logs: JobLogs, *, ending_ttl: float, level: str | int = "INFO") -> None:
        self.logs = logs
        self.ending_ttl = ending_ttl
        self.level = level
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._sink_id: int | None = None
        self._bridge: StdToLoguru | None = None
        self._flusher: asyncio.Task[None] | None = None

    def install(self) -> None:
        self._sink_id = logger.add(self._sink, level=self.level, filter=_in_a_job,
                                   format="{message}", catch=True)
        root = logging.getLogger()
        if not any(routes_to_loguru(h) for h in root.handlers):
            self._bridge = StdToLoguru()
            root.addHandler(self._bridge)
        self._flusher = asyncio.create_task(self._flush_forever(), name="fastproc-job-logs")

    async def close(self) -> None:
        if self._sink_id is not None:
            with contextlib.suppress(ValueError):
                logger.remove(self._sink_id)
            self._sink_id = None
        if self._bridge is not None:
            logging.getLogger().removeHandler(self._bridge)
            self._bridge = None
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        for job_id in list(self._pending):
            await self.flush(job_id)

    # -- what tasks tell it -------------------------------------------------------------

    def task_started(self, job_id: str) -> None:
        with self._lock:
            self._entry(job_id).tasks += 1

    def add_time(self, job_id: str, time: TaskTime) -> None:
        """A task's run time, written with the next flush (one write for many parts)."""
        with self._lock:
            self._entry(job_id).trace[time.field] = time.encode()

    async def job_ending(self, job_id: str) -> None:
        """Just before a task ends the job: write what waits, or give what this worker
        wrote the job's TTL to come."""
        await self.flush(job_id, ending=True)

    def task_ended(self, job_id: str) -> None:
        """What the task left goes with the next flush; the job is forgotten here once none
        of its tasks runs and nothing of it waits."""
        with self._lock:
            entry = self._pending.get(job_id)
            if entry is not None:
                entry.tasks -= 1
                self._forget_if_done(job_id, entry)

    def _forget_if_done(self, job_id: str, entry: _Pending) -> None:
        if entry.tasks <= 0 and not entry.lines and not entry.trace:
            del self._pending[job_id]

    # -- the sink -----------------------------------------------------------------------

    def _entry(self, job_id: str) -> _Pending:
        entry = self._pending.get(job_id)
        if entry is None:
            entry = self._pending[job_id] = _Pending(deque(maxlen=self.logs.max_lines or 1))
        return entry

    def _sink(self, message: Message) -> None:
        record = message.record
        job_id = _job_of(record)
        if job_id is None or not self.logs.max_lines:
            return
        blob = line_of(record).encode()
        with self._lock:
            entry = self._entry(job_id)
            if len(entry.lines) == entry.lines.maxlen:  # more than a job keeps: oldest go
                entry.lost += 1
            entry.lines.append(blob)

    # -- writing ------------------------------------------------------------------------

    def _take(self, job_id: str, ending: bool
              ) -> tuple[list[bytes], dict[str, bytes], int] | None:
        with self._lock:
            entry = self._pending.get(job_id)
            if entry is None or not (entry.lines or entry.trace or (ending and entry.wrote)):
                return None
            taken = list(entry.lines), dict(entry.trace), entry.lost
            entry.lines.clear()
            entry.trace.clear()
            entry.lost = 0
            entry.wrote = True
            self._forget_if_done(job_id, entry)
            return taken

    async def flush(self, job_id: str, *, ending: bool = False) -> None:
        """Write what waits of the job; `ending`: the job is about to end, so also when
        nothing waits but this worker wrote some before (their TTL becomes the job's)."""
        taken = self._take(job_id, ending)
        if taken is None:
            return
        lines, trace, lost = taken
        try:
            async with asyncio.timeout(FLUSH_TIMEOUT):
                await self.logs.append(job_id, lines, trace, lost=lost,
                                       ttl=self.ending_ttl if ending else 0)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("cannot write {} log lines of job {} ({})", len(lines), job_id, exc)

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            with self._lock:
                waiting = [job for job, e in self._pending.items() if e.lines or e.trace]
            for job_id in waiting:
                await self.flush(job_id)
