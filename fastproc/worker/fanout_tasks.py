"""The fan-out tasks: split a job, run its parts, merge them; no worker ever waits for a
sibling.

1. `start_fanout` (in the job's main task) splits the inputs and hands the items to the jobs
   service, which stores them once and queues N part tasks with fixed ids, guarded by the
   job status.
2. `run_part` runs one item; the service stores its result if new and only then counts it
   off (a retried part changes nothing). A result over the inline limit goes to the output
   store, the join keeping its descriptor (`fastproc.outputs.handoff`).
3. Whichever part brings pending to 0 makes the service queue the merge under a fixed id:
   a race or a retry cannot merge twice.
4. `run_merge` loads the parts (those in the output store within the result limit),
   merges, and completes the job, whose join state goes in the same atomic step; the
   parts' objects are deleted then.

The join state itself lives in `fastproc.store.join_state`; this module only calls intents.
The parts of a workflow node's fan-out run here too, on the node's own join (`{job}:node:{n}`,
split and merged by `fastproc.worker.node_tasks`): a part that finds the job ended, or fails
it, drops that join's keys, since no merge will.
"""

from __future__ import annotations

from typing import Any

import orjson

from fastproc.authoring.fanout import FanOutProcess, to_jsonable
from fastproc.authoring.process import no_progress
from fastproc.ogc.exceptions import ProcessError
from fastproc.ogc.models import StatusCode
from fastproc.store.record import JobRecord
from fastproc.wire.message import TaskEnd
from fastproc.wire.names import is_node_join, job_of, part_of
from fastproc.worker.invoke import decode_inputs, error_of, run_with_limits
from fastproc.worker.run_facts import record_parts
from fastproc.worker.runtime import Runtime


async def start_fanout(rt: Runtime, record: JobRecord, proc: FanOutProcess,
                       received: dict[str, Any], end: TaskEnd | None = None) -> None:
    """Split the job and queue its parts; a re-run after a crash queues only missing parts.

    The inputs (references already fetched) are stored once in the join state, where every
    part reads them: task messages stay small whatever the input size. A record that counts
    parts was split before: that split is resumed without splitting again.
    """
    job_id = record.job_id
    queue = rt.queue_of(proc)
    if record.parts is not None and await rt.jobs.resume_split(job_id, queue, end=end):
        return
    inputs = decode_inputs(received)
    parts = await proc.parts(inputs)
    if not parts:
        await finish_merge(rt, record, proc, [], inputs, end)
        return
    await rt.jobs.split(job_id, parts, received, queue=queue, ttl=rt.record_ttl,
                        needs_inputs=proc.parts_need_inputs, end=end)


async def run_part(rt: Runtime, task_id: str, job_try: int, end: TaskEnd | None = None) -> None:
    join_id, key = part_of(task_id)
    job_id = job_of(join_id)
    part = await rt.jobs.part_to_run(join_id, key)
    if not part.running or part.item is None:
        if not part.running and is_node_join(join_id):
            await rt.jobs.flows.drop_join(join_id)
        return  # dismissed, failed or finished: skip
    proc = rt.registry.get(part.process_id)
    if not isinstance(proc, FanOutProcess):
        await rt.fail(job_id, ProcessError(
            f"process '{part.process_id}' is not a fan-out process of this worker"
        ).to_dict(), end=end)
        return
    if not part.done:
        inputs: dict[str, Any] = {}
        if proc.parts_need_inputs:  # a data part has all it needs in its item
            if part.received is None:
                return
            inputs = decode_inputs(part.received)
        context = f"part {key} of process '{proc.id}'"
        if rt.retries.gave_up(proc, job_try):
            await _fail_part(rt, join_id, part.node, ProcessError(
                f"{context} gave up after {rt.retries.tries_allowed(proc)} tries").to_dict(),
                end)
            return
        try:
            result = await run_with_limits(
                proc.run_part(key, orjson.loads(part.item), inputs, no_progress),
                rt.soft_limit(proc), rt.settings.hard_timeout_grace)
            blob = await rt.handoff().put(to_jsonable(result), rt.record_ttl,
                                          f"the result of {context}")
        except Exception as exc:
            rerun = rt.retries.rerun(proc, job_try)
            if rerun is not None:
                raise rerun from exc
            await _fail_part(rt, join_id, part.node, error_of(exc, context), end)
            return
    else:
        blob = b""
    await store_part_and_merge_when_last(rt, join_id, key, blob, rt.queue_of(proc), end)


async def _fail_part(rt: Runtime, join_id: str, node: str | None, error: dict[str, Any],
                     end: TaskEnd | None) -> None:
    """Fail the job of a part that failed for good; a node's part names its node first (as
    a failed node does) and drops the node's join, which no merge will."""
    if node is not None:
        if node:
            error["detail"] = f"{node}: {error.get('detail', '')}"
        error["node"] = node
    await rt.fail(job_of(join_id), error, end=end)
    if is_node_join(join_id):
        await rt.jobs.flows.drop_join(join_id)


async def store_part_and_merge_when_last(
    rt: Runtime, job_id: str, key: str, blob: bytes, queue: str, end: TaskEnd | None = None
) -> int:
    """Store one part's result (if new) and queue the merge if it was the last; returns
    how many parts are still pending (-1: the join is gone).

    Retried while Redis is away, as a job's outcome (`Runtime.persist`): a part that ran
    keeps its result rather than running again. A retry after a store whose answer was
    lost changes nothing: a result already there is not counted again."""
    pending = await rt.persist(lambda: rt.jobs.store_part(job_id, key, blob, queue, end=end),
                               f"the result of part {key} of job {job_id}")
    if pending == -1 and await rt.jobs.is_running(job_of(job_id)):
        await rt.fail(job_of(job_id), ProcessError(
            f"part {key} finished after the job's join state expired").to_dict())
    return pending


async def run_merge(rt: Runtime, task_id: str, end: TaskEnd | None = None) -> None:
    job_id = job_of(task_id)
    record, found = await rt.jobs.for_merge(job_id)
    if record is None or record.status is not StatusCode.RUNNING:
        return
    proc = rt.registry.get(record.process_id)
    if not isinstance(proc, FanOutProcess):
        await rt.fail(job_id, ProcessError(
            f"process '{record.process_id}' is not a fan-out process of this worker"
        ).to_dict(), end=end)
        return
    if not found.complete or found.received is None:
        await rt.fail(job_id, ProcessError(
            f"the merge found {len(found.parts)} of {found.total} parts: the job's join "
            "state is incomplete or expired").to_dict(), end=end)
        return
    handoff = rt.handoff()
    try:
        parts = await handoff.read(found.parts, f"the parts of job {job_id}")
    except ProcessError as exc:
        await rt.fail(job_id, exc.to_dict(), end=end)
        await handoff.drop(found.parts.values())
        return
    await record_parts(rt, job_id, list(parts.items()))
    await finish_merge(rt, record, proc, list(parts.items()), decode_inputs(found.received),
                       end)
    await handoff.drop(found.parts.values())  # the merge's outcome is stored: they served


async def finish_merge(rt: Runtime, record: JobRecord, proc: FanOutProcess,
                       results: list[tuple[str, Any]], inputs: dict[str, Any],
                       end: TaskEnd | None = None) -> None:
    try:
        outputs = await run_with_limits(proc.merge(results, inputs), rt.soft_limit(proc),
                                        rt.settings.hard_timeout_grace)
        result = await rt.encode(proc, outputs)
    except Exception as exc:
        await rt.fail(record.job_id, error_of(exc, f"merge of process '{proc.id}'"), end=end)
        return
    await rt.complete(record, proc, result, end=end)
