"""Putting jobs on arq queues and taking them back (abort), for the API and the workers.

This side never imports arq (see `arq_format`): it writes the keys and messages arq's worker
reads, in the caller's pipeline, so a job's record and its task are one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from fastproc.wire.message import (
    ABORT_JOB_MAX_AGE,
    ABORT_JOBS_SS,
    EXPIRES_EXTRA_MS,
    JOB_KEY_PREFIX,
    dump_job,
    job_message,
    load_job,
    timestamp_ms,
)
from fastproc.wire.names import RUN_TASK, wake_channel

#: `lua/abort.lua`: aborts arq tasks, as arq's `Job.abort` would, in one call for many.
_ABORT = files(__package__ or "fastproc.wire").joinpath("lua", "abort.lua").read_text(
    encoding="utf-8")

__all__ = ["QueuedTask", "abort_tasks", "dump_job", "enqueue_in", "load_job", "nudge",
           "queued_task"]


@dataclass(frozen=True, slots=True)
class QueuedTask:
    """An arq task as `enqueue_in` writes it, for a Lua step that queues it itself: SET
    `key` to `message` for `ttl_ms`, ZADD the id to its queue with `score`."""

    key: str
    message: bytes
    ttl_ms: int
    score: int


def queued_task(task_id: str, function: str = RUN_TASK) -> QueuedTask:
    now = timestamp_ms()
    return QueuedTask(JOB_KEY_PREFIX + task_id, job_message(function, now), EXPIRES_EXTRA_MS,
                      now)


def nudge(pipe: Pipeline, prefix: str, queue: str) -> None:
    """Wake the idle workers of a queue (they fall back to polling if a nudge is lost)."""
    pipe.publish(wake_channel(prefix, queue), b"1")


def enqueue_in(pipe: Pipeline, task_id: str, queue: str, function: str = RUN_TASK, *,
               only_new: bool = False) -> None:
    """Queue an arq task inside the caller's pipeline, as `ArqRedis.enqueue_job` would.

    For ids that are new by construction (a fresh job uuid) arq's duplicate check is moot,
    and writing the record and the task in one round trip halves the submit latency. With
    `only_new`, a task with this id that is already queued or running is left alone (the
    fixed ids of fan-out parts and merges: a retry or a race cannot queue them twice).
    """
    now = timestamp_ms()
    pipe.set(JOB_KEY_PREFIX + task_id, job_message(function, now), px=EXPIRES_EXTRA_MS,
             nx=only_new)
    pipe.zadd(queue, {task_id: now}, nx=only_new)


async def abort_tasks(redis: Redis, task_ids: Iterable[str]) -> int:
    """Ask workers to cancel these arq tasks (running ones are cancelled, queued ones
    skipped); returns how many of them still existed.

    Unlike `arq.jobs.Job.abort` this does not wait for the task to end: the job record is
    already `dismissed`, and a task that still runs finds that out and stores nothing.
    """
    ids = list(task_ids)
    if not ids:
        return 0
    now = timestamp_ms()
    # A running task is cancelled within a poll (0.1 s) of its worker; an entry older than
    # arq's abort age (or the longest poll delay) has done its work.
    oldest = now - max(ABORT_JOB_MAX_AGE, 60) * 1000
    added: int = await redis.eval(_ABORT, 1, ABORT_JOBS_SS, now, oldest,  # type: ignore[arg-type]
                                  JOB_KEY_PREFIX, *ids)
    return added
