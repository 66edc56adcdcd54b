"""What an execution is asked with (`Asked`) and what it ends in (`Outcome`): the values
between the use case and whoever renders it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastproc.ogc.models import StatusCode
from fastproc.store.record import JobRecord


@dataclass(frozen=True, slots=True)
class Asked:
    """How an execution was asked for, beyond its execute request: by whom, at which public
    URL (workflow nodes resolve their process URIs against it), and what the client (HTTP
    headers, or a form's fixed choices) prefers."""

    base: str
    #: The caller the job belongs to (None without API keys).
    owner: str | None = None
    #: Asynchronous execution preferred (`Prefer: respond-async`).
    prefers_async: bool = False
    #: Compute even if a cached result exists (`Cache-Control: no-cache`).
    no_cache: bool = False


@dataclass(frozen=True, slots=True)
class Created:
    """A job was created and the client is not waiting for it: accepted (asynchronous), or
    already successful when the cache answered an asynchronous request."""

    job_id: str
    process_id: str
    status: StatusCode = StatusCode.ACCEPTED


@dataclass(frozen=True, slots=True)
class Finished:
    """Results for a synchronous execution: of the job `job_id`, or from the cache with no
    job at all (`job_id` None). `request` is what the job's record keeps of the execute
    request (how the results are to be rendered)."""

    job_id: str | None
    request: dict[str, Any]
    result: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    """The synchronous execution's job failed; `record` carries its error."""

    job_id: str
    record: JobRecord


@dataclass(frozen=True, slots=True)
class StillRunning:
    """A synchronous execution outlived the wait (or the server is stopping): the job goes
    on, and the client is answered as an asynchronous one would be, so nothing is lost."""

    job_id: str
    record: JobRecord


Outcome = Created | Finished | Failed | StillRunning
