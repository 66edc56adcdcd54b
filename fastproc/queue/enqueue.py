"""Putting jobs on arq queues and taking them back (abort)."""

from __future__ import annotations

from collections.abc import Iterable

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss, expires_extra_ms, job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio.client import Pipeline

from fastproc.queue.loop import wake_channel
from fastproc.queue.names import RUN_TASK


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
    pipe.set(job_key_prefix + task_id, serialize_job(function, (), {}, None, now),
             px=expires_extra_ms, nx=only_new)
    pipe.zadd(queue, {task_id: now}, nx=only_new)


async def abort_tasks(redis: ArqRedis, task_ids: Iterable[str]) -> None:
    """Ask workers to cancel these arq tasks (running ones are cancelled, queued ones skipped).

    Unlike `arq.jobs.Job.abort` this does not wait for the task to end: the job record is
    already `dismissed`, and a task that still runs finds that out and stores nothing.
    """
    ids = list(task_ids)
    if ids:
        now = timestamp_ms()
        await redis.zadd(abort_jobs_ss, {task_id: now for task_id in ids})
