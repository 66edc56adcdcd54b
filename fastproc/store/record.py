"""The job record: what `{p}:job:{id}` holds, typed.

A record is read defensively: one written by another version, by hand or damaged must not
break the routes that read it, nor a listing that meets it among other callers' jobs. A
field that cannot be read is left out (and logged), or kept as text where text is what it
holds (an error that is not a JSON object becomes its `detail`); a record without a state
that can be read is `UnreadableRecord`, which the API answers as no such job and a listing
skips.
"""

from __future__ import annotations

import math
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from loguru import logger

from fastproc.ogc.exceptions import NoSuchJob
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


class UnreadableRecord(NoSuchJob):
    """A job hash whose state cannot be read: to a client, no job it can follow."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"the record of job {job_id} cannot be read ({reason})")
        self.job_id = job_id


def _unreadable(job_id: str, name: str, value: object) -> None:
    logger.warning("job {}: its record's {} cannot be read: {!r}", job_id, name,
                   str(value)[:100])


def _progress(job_id: str, text: str | None) -> int | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 100:  # NaN too
        _unreadable(job_id, "progress", text)
        return None
    return int(value)


def _moment(job_id: str, name: str, text: str | None) -> str | None:
    """An RFC 3339 date-time with its offset, as `now_iso` writes them; else None (a
    duration or a filter computed from it would fail, and a client could not read it)."""
    if not text:
        return None
    try:
        aware = parse_iso(text).tzinfo is not None
    except ValueError:
        aware = False
    if not aware:
        _unreadable(job_id, name, text)
        return None
    return text


def _json_value(text: str) -> Any:
    """What `text` holds as JSON; None when it is no JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _error(job_id: str, text: str | None) -> dict[str, Any] | None:
    """The exception document of a failed job, as `fastproc.api` answers it: a JSON object
    whose `type` and `title` are text and whose `status` is an HTTP error status. Text
    that is not such an object is its `detail`; a member that is not so is left out."""
    if not text:
        return None
    error = _json_value(text)
    if not isinstance(error, dict):
        _unreadable(job_id, "error", text)
        return {"detail": error if isinstance(error, str) else text}
    for name in ("type", "title", "detail"):
        if name in error and not isinstance(error[name], str):
            _unreadable(job_id, f"error {name}", error.pop(name))
    status = error.get("status")
    if status is not None and not (isinstance(status, int) and 400 <= status <= 599):
        _unreadable(job_id, "error status", error.pop("status"))
    return error


def _request(job_id: str, text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    request = _json_value(text)
    if not isinstance(request, dict):
        _unreadable(job_id, "request", text)
        return {}
    return request


@dataclass(frozen=True, slots=True)
class PartsDone:
    """How far a fan-out job is: parts with a result, of how many."""

    done: int
    total: int

    @classmethod
    def parse(cls, done: object, total: object) -> PartsDone | None:
        """From a record's fields or an event's members; None when the job has no parts,
        or when they are not counts (0 <= done <= total)."""
        if total is None or total == "":
            return None
        try:
            found = cls(int(str(done or 0)), int(str(total)))
        except ValueError:
            return None
        return found if 0 <= found.done <= found.total else None

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
    #: The body a job was created or last updated with (Part 4, `POST /jobs`), if it was.
    definition: dict[str, Any] | None = None
    #: How many times that definition was written (a start is guarded by it).
    revision: int = 0

    @classmethod
    def from_hash(cls, job_id: str, raw: dict[bytes, bytes]) -> JobRecord:
        data = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in raw.items()}
        return cls.from_fields(job_id, data)

    @classmethod
    def from_fields(cls, job_id: str, data: dict[str, str]) -> JobRecord:
        """The record of these hash fields, read defensively (see the module doc)."""
        status = data.get("status", StatusCode.ACCEPTED)
        try:
            state = StatusCode(status)
        except ValueError:
            logger.warning("job {}: its record's status {!r} is no job state", job_id,
                           status[:100])
            raise UnreadableRecord(job_id, "its state is not one a job has") from None
        parts = PartsDone.parse(data.get("parts_done"), data.get("parts_total"))
        if parts is None and data.get("parts_total"):
            _unreadable(job_id, "parts", (data.get("parts_done"), data.get("parts_total")))
        nodes = PartsDone.parse(data.get("nodes_done"), data.get("nodes_total"))
        if nodes is None and data.get("nodes_total"):
            _unreadable(job_id, "nodes", (data.get("nodes_done"), data.get("nodes_total")))
        return cls(
            job_id=job_id,
            process_id=data.get("processID", ""),
            status=state,
            progress=_progress(job_id, data.get("progress")),
            message=data.get("message") or None,
            created=_moment(job_id, "created", data.get("created")),
            started=_moment(job_id, "started", data.get("started")),
            finished=_moment(job_id, "finished", data.get("finished")),
            updated=_moment(job_id, "updated", data.get("updated")),
            error=_error(job_id, data.get("error")),
            request=_request(job_id, data.get("request")),
            cache_key=data.get("cache_key") or None,
            owner=data.get("owner") or None,
            parts=parts,
            nodes=nodes,
            definition=_request(job_id, data.get("definition")) or None,
            revision=int(data["revision"]) if data.get("revision", "").isdigit() else 0,
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
