"""Putting jobs on arq queues and taking them back (abort).

arq pickles its job messages by default, so anyone who can write to Redis could run code on
every worker. fastproc's messages are JSON (`dump_job` / `load_job`, used by enqueuers and
workers alike): a Redis write is data, never code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from arq.connections import ArqRedis
from arq.constants import abort_job_max_age, abort_jobs_ss, expires_extra_ms, job_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from redis.asyncio.client import Pipeline

from fastproc.queue.names import RUN_TASK, wake_channel


def dump_job(message: Any) -> bytes:
    """arq's job (and result) serializer: JSON. Values JSON cannot carry (an exception in a
    failed task's result) become their text, which is all a reader of arq's result needs."""
    return orjson.dumps(message, default=str)


def load_job(data: bytes) -> Any:
    """arq's job deserializer: JSON only; a pickled message fails to load and never runs."""
    return orjson.loads(data)


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
    pipe.set(job_key_prefix + task_id,
             serialize_job(function, (), {}, None, now, serializer=dump_job),
             px=expires_extra_ms, nx=only_new)
    pipe.zadd(queue, {task_id: now}, nx=only_new)


# Ask workers to cancel tasks, but only tasks that still exist (queued or running): arq
# removes an entry when its task ends, so an entry for a task that already ended would stay
# forever and be read by every busy worker ten times a second. Entries older than arq's own
# abort age, or whose task is gone, are pruned on the way.
# KEYS: 1 arq's abort set; ARGV: 1 now (ms), 2 oldest score kept, 3 job key prefix, 4.. ids
# Returns how many entries were added.
_ABORT = """
local added = 0
for i = 4, #ARGV do
  if redis.call('EXISTS', ARGV[3] .. ARGV[i]) == 1 then
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[i])
    added = added + 1
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
local stale = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, 99)) do
  if redis.call('EXISTS', ARGV[3] .. id) == 0 then stale[#stale + 1] = id end
end
if #stale > 0 then redis.call('ZREM', KEYS[1], unpack(stale)) end
return added
"""


async def abort_tasks(redis: ArqRedis, task_ids: Iterable[str]) -> int:
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
    oldest = now - max(abort_job_max_age, 60) * 1000
    added: int = await redis.eval(_ABORT, 1, abort_jobs_ss, now, oldest,  # type: ignore[arg-type]
                                  job_key_prefix, *ids)
    return added
