"""A job's log and trace: what its process logged and when its tasks ran, kept in Redis
beside the job for as long as the job lives.

Workers append in batches (`fastproc.worker.capture`, one Lua call per flush); the API reads
(`GET /jobs/{id}/logs`, the job page, `fastproc jobs logs`). Two keys per job:

- `{p}:job:{id}:logs`: the lines as JSON, oldest first; only the newest
  `FASTPROC_JOB_LOG_LINES` lines within `FASTPROC_JOB_LOG_BYTES` bytes are kept;
- `{p}:job:{id}:trace`: a hash of the log's counters (`log_total`, `log_dropped`,
  `log_bytes`) and, per task of a fan-out (each part, the merge), when it ran
  (`task|part|<key>`, `task|merge|`: "started ms,ended ms,try").

Lines are numbered from 1 in the order they were appended (a reader asks for the lines
after the last number it has, so a page can follow a running job). Every append gives both
keys the job record's TTL, and nothing is written for a job that is gone or dismissed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from redis.asyncio import Redis

from fastproc.store.scripts import register
from fastproc.wire.keys import Keys

#: The trace hash's fields of task run times start with this.
TASK_FIELD = "task|"


class Source(StrEnum):
    """Who wrote a line: the process's own code, or fastproc running it."""

    PROCESS = "process"
    FASTPROC = "fastproc"


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of a job's log. `part` names the fan-out part (or `merge`) that logged it;
    `traceback` holds the frames of the process's code when the line reports an error."""

    time: str
    level: str
    message: str
    source: Source = Source.PROCESS
    part: str | None = None
    logger: str | None = None
    traceback: str | None = None
    number: int = 0

    def encode(self) -> bytes:
        doc: dict[str, Any] = {"time": self.time, "level": self.level,
                               "source": self.source.value, "message": self.message}
        for name in ("part", "logger", "traceback"):
            value = getattr(self, name)
            if value:
                doc[name] = value
        try:
            return orjson.dumps(doc)
        except orjson.JSONEncodeError:
            # A lone surrogate (undecodable bytes read with `surrogateescape`) is not UTF-8:
            # the line is kept with it as a visible escape, `\udc80`, rather than lost.
            return orjson.dumps({k: _utf8(v) for k, v in doc.items()})

    @classmethod
    def decode(cls, blob: bytes, number: int) -> LogLine:
        doc: dict[str, Any] = orjson.loads(blob)
        try:
            source = Source(doc.get("source", Source.PROCESS))
        except ValueError:
            source = Source.PROCESS
        return cls(time=str(doc.get("time", "")), level=str(doc.get("level", "")),
                   message=str(doc.get("message", "")), source=source,
                   part=doc.get("part"), logger=doc.get("logger"),
                   traceback=doc.get("traceback"), number=number)

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"n": self.number, **orjson.loads(self.encode())}
        return doc

    def text(self) -> str:
        """The line as `fastproc jobs logs` and `text/plain` show it: fastproc's own lines
        are marked, a traceback follows its line, indented."""
        marks = [f"[{self.source.value}]"] if self.source is Source.FASTPROC else []
        if self.part:
            marks.append(f"[{self.part}]")
        head = " ".join([self.time, f"{self.level:<7}", *marks, self.message])
        if not self.traceback:
            return head
        return head + "\n" + "\n".join("    " + line for line in self.traceback.splitlines())


def _utf8(value: object) -> object:
    return value.encode("utf-8", "backslashreplace").decode() if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class TaskTime:
    """When one task of a fan-out job ran: a part (`kind` "part", its key) or the merge."""

    kind: str
    key: str
    started_ms: int
    ended_ms: int
    tries: int = 1

    @property
    def field(self) -> str:
        return f"{TASK_FIELD}{self.kind}|{self.key}"

    @property
    def seconds(self) -> float:
        return max(0.0, (self.ended_ms - self.started_ms) / 1000)

    @property
    def name(self) -> str:
        return f"part {self.key}" if self.kind == "part" else self.kind

    def encode(self) -> bytes:
        return f"{self.started_ms},{self.ended_ms},{self.tries}".encode()

    @classmethod
    def decode(cls, name: str, value: str) -> TaskTime | None:
        kind, _, key = name.removeprefix(TASK_FIELD).partition("|")
        try:
            started, ended, tries = (int(x) for x in value.split(","))
        except ValueError:
            return None
        return cls(kind, key, started, ended, tries)


@dataclass(frozen=True, slots=True)
class JobLog:
    """Lines of a job's log, and how many there were in all and were dropped."""

    lines: list[LogLine]
    total: int
    dropped: int

    @property
    def last(self) -> int:
        """The number of the last line appended so far (ask for the lines after it)."""
        return self.total


@dataclass(frozen=True, slots=True)
class JobTrace:
    """The run times of a fan-out job's tasks, slowest first."""

    tasks: list[TaskTime] = field(default_factory=list)

    @property
    def parts(self) -> list[TaskTime]:
        return [t for t in self.tasks if t.kind == "part"]

    @property
    def merge(self) -> TaskTime | None:
        return next((t for t in self.tasks if t.kind == "merge"), None)


class JobLogs:
    """The Redis side of job logs; `max_lines` and `max_bytes` bound what a job keeps."""

    def __init__(self, redis: Redis, keys: Keys, *, max_lines: int = 1000,
                 max_bytes: int = 262_144) -> None:
        self.redis = redis
        self.keys = keys
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._append = register(redis, "logs_append")
        self._read = register(redis, "logs_read")

    def keys_of(self, job_id: str) -> list[str]:
        """Both keys of a job's log (dropped with the job when it is dismissed)."""
        return [self.keys.job_logs(job_id), self.keys.job_trace(job_id)]

    async def append(self, job_id: str, lines: Sequence[bytes],
                     trace: Mapping[str, bytes] | None = None, *, lost: int = 0,
                     ttl: float = 0) -> int:
        """Append lines (encoded `LogLine`s) and trace fields in one call. Both keys live
        as long as the record, or `ttl` seconds when given (the job is about to end with
        that TTL); with nothing to append, this renews their TTL. `lost`: lines logged
        before these that the writer could not keep (counted, and dropped). How many kept
        lines were dropped, -1 when the job is gone or dismissed."""
        pairs = [x for kv in (trace or {}).items() for x in kv]
        dropped = await self._append(
            keys=[self.keys.job(job_id), *self.keys_of(job_id)],
            args=[self.max_lines, self.max_bytes, int(ttl * 1000), lost, len(lines),
                  *lines, *pairs])
        return int(dropped)

    async def read(self, job_id: str, after: int = 0) -> JobLog:
        """The lines numbered after `after` (all of those kept, with 0)."""
        total, dropped, first, blobs = await self._read(keys=self.keys_of(job_id),
                                                        args=[max(0, after)])
        lines = [LogLine.decode(blob, int(first) + i) for i, blob in enumerate(blobs)]
        return JobLog(lines, int(total), int(dropped))

    async def trace(self, job_id: str) -> JobTrace:
        raw = await self.redis.hgetall(self.keys.job_trace(job_id))
        tasks = [TaskTime.decode(k.decode(), v.decode()) for k, v in raw.items()
                 if k.startswith(TASK_FIELD.encode())]
        found = [t for t in tasks if t is not None]
        return JobTrace(sorted(found, key=lambda t: -t.seconds))
