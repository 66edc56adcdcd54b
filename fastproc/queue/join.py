"""The counter-based join of fan-out jobs: no worker ever waits for a sibling.

1. `start_fanout` (in the job's main task) stores the items once, sets total = pending = N
   and queues N part tasks with fixed ids, all in one transaction guarded by the job status.
2. `run_part` runs one item and, in one Lua call, stores its result if new and only then
   decrements pending; a retried part changes nothing.
3. Whichever part sees pending reach 0 queues the merge under a fixed id, with NX semantics:
   a race or a retry cannot merge twice.
4. `run_merge` loads the parts in order, merges, and marks the job successful, deleting the
   join keys in the same atomic step.
"""

from __future__ import annotations

from typing import Any

import orjson
from arq import Retry
from loguru import logger
from redis.exceptions import WatchError

from fastproc.authoring.fanout import FanOutProcess, to_jsonable
from fastproc.authoring.process import no_progress
from fastproc.jobs.record import JobRecord, now_iso
from fastproc.ogc.exceptions import ProcessError
from fastproc.ogc.models import StatusCode
from fastproc.queue.enqueue import enqueue_in, nudge
from fastproc.queue.execution import decode_inputs, error_of, run_with_limits
from fastproc.queue.names import (
    MERGE_TASK,
    PART_TASK,
    job_of,
    merge_job_id,
    part_job_id,
    part_of,
)
from fastproc.queue.runtime import Runtime

# KEYS: 1 join, 2 parts, 3 job; ARGV: 1 part key, 2 result, 3 channel, 4 job id, 5 now
# Returns pending after this part, or -1 when the join is gone (job ended or dismissed).
STORE_PART = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
  local pending = redis.call('HINCRBY', KEYS[1], 'pending', -1)
  local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
  if redis.call('HGET', KEYS[3], 'status') == 'running' and total > 0 then
    local pct = math.floor((total - pending) * 100 / total)
    redis.call('HSET', KEYS[3], 'progress', pct, 'updated', ARGV[5],
               'message', (total - pending) .. ' of ' .. total .. ' parts done')
    redis.call('PUBLISH', ARGV[3], cjson.encode({jobID = ARGV[4], status = 'running',
      progress = pct, message = (total - pending) .. ' of ' .. total .. ' parts done',
      updated = ARGV[5]}))
  end
  return pending
end
return tonumber(redis.call('HGET', KEYS[1], 'pending'))
"""


_SPLIT_ATTEMPTS = 5


async def start_fanout(rt: Runtime, record: JobRecord, proc: FanOutProcess,
                       received: dict[str, Any]) -> None:
    """Split the job and queue its parts; a re-run after a crash queues only missing parts.

    The inputs (references already fetched) are stored once in the join hash, where every
    part reads them: task messages stay small whatever the input size.
    """
    job_id = record.job_id
    keys = rt.keys
    queue = rt.queue_of(proc)
    inputs = decode_inputs(received)
    known_total = await rt.redis.hget(keys.join(job_id), "total")
    if known_total is not None:
        await _requeue_missing(rt, job_id, queue)
        return
    parts = await proc.parts(inputs)
    if not parts:
        await finish_merge(rt, record, proc, [], inputs)
        return
    ttl = rt.record_ttl
    # The record is watched so a dismissal cannot slip in between the status check and the
    # split; any other write to it (a progress report, a second begin) just means: again.
    for _ in range(_SPLIT_ATTEMPTS):
        async with rt.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(keys.job(job_id))
                if await pipe.hget(keys.job(job_id), "status") != b"running":
                    return
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(keys.join(job_id), mapping={
                    "total": len(parts), "pending": len(parts), "inputs": orjson.dumps(received)})
                pipe.hset(keys.join_items(job_id),
                          mapping={key: orjson.dumps(item) for key, item in parts})
                # The parts hash takes this TTL from the join hash when its first part lands.
                for key in (keys.join(job_id), keys.join_items(job_id)):
                    pipe.expire(key, ttl)
                for key, _ in parts:
                    enqueue_in(pipe, part_job_id(job_id, key), queue, PART_TASK, only_new=True)
                nudge(pipe, rt.keys.prefix, queue)
                await pipe.execute()
                return
            except WatchError:
                logger.info("job {} changed while splitting; trying again", job_id)
    raise ProcessError(f"the job kept changing while it was split ({_SPLIT_ATTEMPTS} tries)")


async def _requeue_missing(rt: Runtime, job_id: str, queue: str) -> None:
    keys = rt.keys
    async with rt.redis.pipeline(transaction=False) as pipe:
        pipe.hkeys(keys.join_items(job_id))
        pipe.hkeys(keys.join_parts(job_id))
        pipe.hget(keys.join(job_id), "pending")
        items, done, pending = await pipe.execute()
    missing = set(items) - set(done)
    async with rt.redis.pipeline(transaction=False) as pipe:
        for key in missing:
            enqueue_in(pipe, part_job_id(job_id, key.decode()), queue, PART_TASK,
                       only_new=True)
        if pending is not None and int(pending) == 0:
            enqueue_in(pipe, merge_job_id(job_id), queue, MERGE_TASK, only_new=True)
        nudge(pipe, keys.prefix, queue)
        await pipe.execute()


async def run_part(rt: Runtime, task_id: str, job_try: int) -> None:
    job_id, key = part_of(task_id)
    keys = rt.keys
    async with rt.redis.pipeline(transaction=False) as pipe:
        pipe.hmget(keys.job(job_id), ["status", "processID"])
        pipe.hget(keys.join_items(job_id), key)
        pipe.hexists(keys.join_parts(job_id), key)
        (status, process_id), item, done = await pipe.execute()
    if status != StatusCode.RUNNING.value.encode() or item is None:
        return  # dismissed, failed or finished: skip
    proc = rt.registry.get(process_id.decode())
    if not isinstance(proc, FanOutProcess):
        await rt.fail(job_id, ProcessError(
            f"process '{process_id.decode()}' is not a fan-out process of this worker"
        ).to_dict())
        return
    if not done:
        inputs: dict[str, Any] = {}
        if proc.parts_need_inputs:  # a data part has all it needs in its item
            received = await rt.redis.hget(keys.join(job_id), "inputs")
            if received is None:
                return
            inputs = decode_inputs(orjson.loads(received))
        context = f"part {key} of process '{proc.id}'"
        allowed = rt.settings.max_tries + proc.max_retries
        if job_try > allowed:
            await rt.fail(job_id, ProcessError(
                f"{context} gave up after {allowed} tries").to_dict())
            return
        try:
            result = await run_with_limits(
                proc.run_part(key, orjson.loads(item), inputs, no_progress),
                rt.soft_limit(proc), rt.settings.hard_timeout_grace)
            blob = orjson.dumps(to_jsonable(result))
        except Exception as exc:
            if job_try <= proc.max_retries:
                raise Retry(defer=min(2 ** job_try, 60)) from exc
            await rt.fail(job_id, error_of(exc, context))
            return
    else:
        blob = b""
    await store_part_and_merge_when_last(rt, job_id, key, blob, rt.queue_of(proc))


async def store_part_and_merge_when_last(
    rt: Runtime, job_id: str, key: str, blob: bytes, queue: str
) -> int:
    """Store one part's result (if new) and queue the merge if it was the last; returns
    how many parts are still pending (-1: the join is gone)."""
    keys = rt.keys
    pending = int(await rt.redis.eval(
        STORE_PART, 3, keys.join(job_id), keys.join_parts(job_id), keys.job(job_id),
        key, blob, keys.events, job_id, now_iso()))  # type: ignore[arg-type]
    if pending == -1 and await rt.redis.hget(keys.job(job_id), "status") == b"running":
        await rt.fail(job_id, ProcessError(
            f"part {key} finished after the job's join state expired").to_dict())
    if pending == 0:
        async with rt.redis.pipeline(transaction=False) as pipe:
            enqueue_in(pipe, merge_job_id(job_id), queue, MERGE_TASK, only_new=True)
            nudge(pipe, keys.prefix, queue)
            await pipe.execute()
    return pending


async def run_merge(rt: Runtime, task_id: str) -> None:
    job_id = job_of(task_id)
    record = await rt.store.get(job_id)
    if record is None or record.status is not StatusCode.RUNNING:
        return
    proc = rt.registry.get(record.process_id)
    if not isinstance(proc, FanOutProcess):
        await rt.fail(job_id, ProcessError(
            f"process '{record.process_id}' is not a fan-out process of this worker"
        ).to_dict())
        return
    async with rt.redis.pipeline(transaction=False) as pipe:
        pipe.hmget(rt.keys.join(job_id), ["total", "inputs"])
        pipe.hgetall(rt.keys.join_parts(job_id))
        (total, received), parts = await pipe.execute()
    if total is None or received is None or len(parts) != int(total):
        await rt.fail(job_id, ProcessError(
            f"the merge found {len(parts)} of {total} parts: the job's join state is "
            "incomplete or expired").to_dict())
        return
    results = [(k.decode(), orjson.loads(v)) for k, v in parts.items()]
    await finish_merge(rt, record, proc, results, decode_inputs(orjson.loads(received)))


async def finish_merge(rt: Runtime, record: JobRecord, proc: FanOutProcess,
                       results: list[tuple[str, Any]], inputs: dict[str, Any]) -> None:
    try:
        outputs = await run_with_limits(proc.merge(results, inputs), rt.soft_limit(proc),
                                        rt.settings.hard_timeout_grace)
        result = rt.encode(proc, outputs)
    except Exception as exc:
        await rt.fail(record.job_id,
                                   error_of(exc, f"merge of process '{proc.id}'"))
        return
    await rt.complete(record, proc, result)
