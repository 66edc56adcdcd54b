"""arq's Redis layout and job message, as fastproc writes them, without importing arq.

Importing any part of arq runs `arq/__init__`, which loads its worker; the API enqueues
jobs but must not load worker code (nor pay for it at start-up). So what an enqueuer needs
to write a job arq's worker will run — the key names and the message format — is spelled
here, and `tests/test_arq_contract.py` checks it against the installed arq: if arq changes
its layout, that test fails before a job is lost.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

#: `arq.constants.job_key_prefix`: the message of a queued or running task.
JOB_KEY_PREFIX = "arq:job:"
#: `arq.constants.in_progress_key_prefix`: a worker's claim on a task (fastproc's lease).
IN_PROGRESS_KEY_PREFIX = "arq:in-progress:"
#: `arq.constants.retry_key_prefix`: how many times a task was started.
RETRY_KEY_PREFIX = "arq:retry:"
#: Seconds arq's retry key lives, renewed at each try (a literal in `arq.worker.Worker.run_job`).
RETRY_KEY_TTL = 88_400
#: `arq.constants.result_key_prefix`: a task's result (fastproc keeps none).
RESULT_KEY_PREFIX = "arq:result:"
#: `arq.constants.abort_jobs_ss`: the sorted set of tasks workers are asked to cancel.
ABORT_JOBS_SS = "arq:abort"
#: `arq.constants.abort_job_max_age`: seconds an abort request is worth keeping.
ABORT_JOB_MAX_AGE = 60
#: `arq.constants.expires_extra_ms`: how long a queued message lives, in ms.
EXPIRES_EXTRA_MS = 86_400_000


def timestamp_ms() -> int:
    """Now in ms since the epoch, the unit of arq's queue scores (`arq.utils.timestamp_ms`)."""
    return round(time.time() * 1000)


def dump_job(message: Any) -> bytes:
    """arq's job (and result) serializer: JSON. Values JSON cannot carry (an exception in a
    failed task's result) become their text, which is all a reader of arq's result needs.

    arq pickles its messages by default, so anyone who can write to Redis could run code on
    every worker; with JSON a Redis write is data, never code.
    """
    return orjson.dumps(message, default=str)


def load_job(data: bytes) -> Any:
    """arq's job deserializer: JSON only; a pickled message fails to load and never runs."""
    return orjson.loads(data)


def job_message(function: str, enqueue_time_ms: int) -> bytes:
    """The message of a task calling `function` with no arguments, as
    `arq.jobs.serialize_job(function, (), {}, None, enqueue_time_ms, serializer=dump_job)`
    writes it: `t` try (none yet), `f` function, `a` args, `k` kwargs, `et` enqueue time."""
    return dump_job({"t": None, "f": function, "a": (), "k": {}, "et": enqueue_time_ms})


#: Where a worker's context names the `TaskEnd` of the task it runs (fastproc's loop only).
TASK_END = "fastproc.task_end"


@dataclass(slots=True)
class TaskEnd:
    """arq's bookkeeping at the end of a task — delete its in-progress, retry and job keys,
    take it off its queue — for a task that does it in the atomic step that ends its job,
    instead of a round trip of its own afterwards. The step sets `done`; the worker then
    skips arq's `finish_job`. Under arq's own loop there is none, and arq finishes as usual.
    """

    task_id: str
    queue: str
    done: bool = False

    @property
    def keys(self) -> list[str]:
        """The task's keys that go when it ends."""
        return [IN_PROGRESS_KEY_PREFIX + self.task_id, RETRY_KEY_PREFIX + self.task_id,
                JOB_KEY_PREFIX + self.task_id]


#: Where a worker's context holds the `ClaimStarts` of its job tasks (fastproc's loop only).
CLAIM_STARTS = "fastproc.claim_starts"
#: Where a task's context holds its job's record as the claim left it: the fields, as
#: HGETALL gives them, after the job's start (fastproc's loop only; empty: the record is gone).
STARTED = "fastproc.started"


@dataclass(frozen=True, slots=True)
class ClaimStarts:
    """The other way round from `TaskEnd`: fastproc's first step of a job — mark it
    running, read its record — made in the worker's claim of the task that runs it
    (`store/lua/claim.lua`), instead of a round trip of the task's own. The worker hands the
    record to the task (`STARTED`); under arq's own loop there is none, and the task starts
    its job itself."""

    #: The arq function of the tasks that run jobs (their arq id is the job id).
    function: str
    #: arq's try limit of that function: a task past it does not run, so nor does its job.
    max_tries: int
    #: The job record's key, but for the job id.
    record_prefix: str
    #: How long a record must live while its process runs, s.
    ttl: int
    #: The stats hash that counts started jobs.
    stats: str
    #: The channel of job events.
    channel: str
    #: The queue counters' key prefix ('' without a queue cap).
    counters: str


class DropReason(StrEnum):
    """Why a worker drops a task unrun: the `reason` label of
    `fastproc_queue_messages_dropped_total`."""

    #: Its queue entry is not UTF-8 text.
    ID = "id"
    #: Its queue score is not a time (infinite).
    SCORE = "score"
    #: Its message is gone (expired) or not a string.
    MISSING = "missing"
    #: Its message is not arq's JSON, or a field of it has the wrong type or range.
    MESSAGE = "message"
    #: Its function is not one of the worker's.
    FUNCTION = "function"
    #: Its arguments do not fit its function.
    ARGUMENTS = "arguments"
    #: It is past its function's try limit, or its try counter is not a number.
    TRIES = "tries"


@dataclass(frozen=True, slots=True)
class DroppedTask:
    """A task a worker cannot run from what Redis holds for it (written by hand, or
    corrupted), which it drops instead of running it or stopping on it."""

    #: Its id (not UTF-8: as Python shows such bytes; then it names no job).
    task_id: str
    queue: str
    reason: DropReason
    #: Why, in words, for the failure message of its job.
    detail: str
    #: Its arq bookkeeping, for the step that fails its job; None when its id names no job.
    end: TaskEnd | None


#: Where a worker's context holds what ends the job of a task it drops (`DroppedTask`):
#: counted, and its job failed, since no task will ever end it (fastproc's loop only).
TASK_DROPPED = "fastproc.task_dropped"

#: The signature of that hook.
DropHook = Callable[[DroppedTask], Awaitable[object]]
