"""The job record: what `{p}:job:{id}` holds, typed."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from fastproc.ogc.models import StatusCode

#: Hash fields read for a status document (everything but the stored request).
STATUS_FIELDS = (
    "processID", "status", "progress", "message", "created", "started", "finished", "updated",
    "error", "owner", "parts_done", "parts_total", "nodes_done", "nodes_total",
)
#: The statusInfo member (an extension: OGC's statusInfo allows more members) that says how
#: many parts of a fan-out job are done, as data: `{"done": 3, "total": 8}`.
PARTS_MEMBER = "x-fastproc-parts"
#: The same for a workflow job: how many of its nested processes are done (the root, the
#: job's own process, is not counted: the job ends when it does).
NODES_MEMBER = "x-fastproc-nodes"

#: Job ids as the API makes them (`uuid.uuid4().hex`). Anything else names no job; checked
#: before an id becomes part of a key, so `/jobs/{id}:result` never reads the result string.
_JOB_ID = re.compile(r"[0-9a-f]{32}")


def is_job_id(value: str) -> bool:
    return _JOB_ID.fullmatch(value) is not None


_random = bytearray()
_random_lock = threading.Lock()


def _forget_random() -> None:
    """A forked child must not hand out the ids its parent will."""
    global _random, _random_lock
    _random, _random_lock = bytearray(), threading.Lock()


os.register_at_fork(after_in_child=_forget_random)


def new_job_id() -> str:
    """A fresh job id, which is also the arq id of the job's task: `uuid.uuid4().hex`, from
    random bytes read 4 KiB at a time rather than one system call per id."""
    global _random
    with _random_lock:
        if not _random:
            _random = bytearray(os.urandom(4096))
        raw = _random[-16:]
        del _random[-16:]
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class PartsDone:
    """How far a fan-out job is: parts with a result, of how many."""

    done: int
    total: int

    @classmethod
    def parse(cls, done: object, total: object) -> PartsDone | None:
        """From a record's fields or an event's members; None when the job has no parts."""
        if total is None or total == "":
            return None
        return cls(int(str(done or 0)), int(str(total)))

    def document(self) -> dict[str, int]:
        return {"done": self.done, "total": self.total}


@dataclass(slots=True)
class JobRecord:
    job_id: str
    process_id: str
    status: StatusCode
    progress: int | None = None
    message: str | None = None
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    updated: str | None = None
    error: dict[str, Any] | None = None
    request: dict[str, Any] = field(default_factory=dict)
    cache_key: str | None = None
    #: The caller that created the job, when access control is on.
    owner: str | None = None
    #: A fan-out job's parts done (None for a job that was not split).
    parts: PartsDone | None = None
    #: A workflow job's nested processes done (None for a job without any).
    nodes: PartsDone | None = None

    @classmethod
    def from_hash(cls, job_id: str, raw: dict[bytes, bytes]) -> JobRecord:
        data = {k.decode(): v.decode() for k, v in raw.items()}
        return cls.from_fields(job_id, data)

    @classmethod
    def from_fields(cls, job_id: str, data: dict[str, str]) -> JobRecord:
        progress = data.get("progress")
        error = data.get("error")
        request = data.get("request")
        return cls(
            job_id=job_id,
            process_id=data.get("processID", ""),
            status=StatusCode(data.get("status", StatusCode.ACCEPTED)),
            progress=int(float(progress)) if progress else None,
            message=data.get("message") or None,
            created=data.get("created") or None,
            started=data.get("started") or None,
            finished=data.get("finished") or None,
            updated=data.get("updated") or None,
            error=orjson.loads(error) if error else None,
            request=orjson.loads(request) if request else {},
            cache_key=data.get("cache_key") or None,
            owner=data.get("owner") or None,
            parts=PartsDone.parse(data.get("parts_done"), data.get("parts_total")),
            nodes=PartsDone.parse(data.get("nodes_done"), data.get("nodes_total")),
        )

    def status_document(self) -> dict[str, Any]:
        """statusInfo without links (a worker does not know the API's public URL)."""
        doc: dict[str, Any] = {"processID": self.process_id, "type": "process",
                               "jobID": self.job_id, "status": self.status.value}
        for name in ("message", "created", "started", "finished", "updated", "progress"):
            value = getattr(self, name)
            if value is not None:
                doc[name] = value
        if self.parts is not None:
            doc[PARTS_MEMBER] = self.parts.document()
        if self.nodes is not None:
            doc[NODES_MEMBER] = self.nodes.document()
        return doc

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or to now while running), for job-list filters."""
        if not self.started:
            return None
        end = parse_iso(self.finished) if self.finished else datetime.now(UTC)
        return (end - parse_iso(self.started)).total_seconds()
