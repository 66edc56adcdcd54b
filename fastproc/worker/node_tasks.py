"""The task of one process of a workflow (arq id `{job}:node:{n}`, see `fastproc.jobs.flow`).

A nested node runs when its children have: its inputs are its own literal values with
each child's output value in its slot, validated against its process's description like
any input. A deterministic local process is answered from the result cache when it can
(the entry a plain execution of the same inputs would use), so a workflow run again with
one leaf changed runs only that leaf's path; otherwise it runs under the limits of a job,
or — a process of another server — is executed there (`fastproc.worker.remote`). A fan-out
process splits as a job does, on a join of the node's own (`fastproc.jobs.flow`): its parts
are node tasks `{job}:node:{n}:part:{i}` that any worker runs (`fastproc.worker.fanout_tasks`),
the last queues `{job}:node:{n}:merge`, and the merge stores the node's value; no task
waits for another. Its output
value is then stored, once, in the workflow's keys (no larger than a job's result may be:
`FASTPROC_MAX_RESULT_BYTES`; with an output store, one over `FASTPROC_INLINE_OUTPUT_BYTES`
goes there and the keys hold its descriptor, `fastproc.outputs.handoff`), and the last
child of a parent queues it.

The root (node 0, the process the request was posted to) is run by the job's own task
function with its inputs filled from those stored values: results, output selection,
response modes, cache, callbacks and fan-out are then those of any job. The values are
never written into the job's request, which keeps the request as the client sent it: a
small request whose nested processes produce large values must not make every read of the
job's record large (a 100-byte request made a 50 MB record, loaded by each view of the job).

A node that fails fails the job, with the node's path in the error (`inputs.a.inputs.b:
...`); the other nodes then find the job ended and skip.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arq import Retry
from loguru import logger
from redis.exceptions import RedisError

from fastproc.authoring.fanout import FanOutProcess
from fastproc.authoring.process import BaseProcess, no_progress
from fastproc.cache_key import cache_digest, is_cacheable
from fastproc.jobs.flow import NodeToRun, WorkflowJobs
from fastproc.ogc.exceptions import OGCException, ProcessError
from fastproc.ogc.inputs import references
from fastproc.ogc.models import ResponseMode, StatusCode
from fastproc.outputs.placement import is_stream, read_whole
from fastproc.store.record import now_iso
from fastproc.store.result_document import (
    EncodedResult,
    decode_results,
    document_value,
    encode_results,
)
from fastproc.wire.message import TASK_END, TaskEnd
from fastproc.wire.names import job_of, join_of, node_job_id, node_of
from fastproc.worker.fanout_tasks import run_part
from fastproc.worker.fetch import resolve_references
from fastproc.worker.invoke import decode_inputs, error_of, run_with_limits
from fastproc.worker.remote import RemoteSlots, run_remote
from fastproc.worker.run_facts import record_node
from fastproc.worker.runtime import CTX_KEY, Runtime
from fastproc.worker.tasks import GIVEN_INPUTS, guarded, run_job
from fastproc.workflows.tree import ROOT, Node, Slot

#: Where a worker keeps its `RemoteSlots` in arq's context (set at its start-up).
REMOTE_SLOTS = "fastproc.remote_slots"


async def run_node_task(ctx: dict[str, Any]) -> None:
    rt: Runtime = ctx[CTX_KEY]
    task_id: str = ctx["job_id"]
    if ":part:" in task_id or task_id.endswith(":merge"):
        await _run_join_task(rt, ctx, task_id)
        return
    job_id, node_id = node_of(task_id)
    flows = rt.jobs.flows
    with logger.contextualize(job_id=job_id):
        if node_id != ROOT:
            await guarded(rt, job_id, f"node {node_id}", _run_nested(
                rt, flows, job_id, node_id, ctx["job_try"], ctx[REMOTE_SLOTS]))
            return
        prepared: list[dict[str, Any]] = []
        handed: list[Any] = []
        await guarded(rt, job_id, "the inputs of the workflow's process",
                       _prepare_root(rt, flows, job_id, prepared, handed))
        if prepared:
            # The job's own task function, in this task: it skips a job that has ended.
            await run_job({**ctx, "job_id": job_id, GIVEN_INPUTS: prepared[0]})
            await rt.handoff().drop(handed)  # the job has ended: its inputs served


async def _started(rt: Runtime, flows: WorkflowJobs, job_id: str, node_id: int) -> NodeToRun:
    found = await flows.start(job_id, node_id, rt.record_ttl)
    if found.runnable and found.status is StatusCode.ACCEPTED:
        await rt.jobs.begin(job_id, rt.record_ttl)  # the job's first node to start
    return found


async def _run_join_task(rt: Runtime, ctx: dict[str, Any], task_id: str) -> None:
    """A part or the merge of a fan-out node (`{job}:node:{n}:part:{i}`, `...:merge`)."""
    job_id = job_of(task_id)
    end: TaskEnd | None = ctx.get(TASK_END)
    with logger.contextualize(job_id=job_id):
        if task_id.endswith(":merge"):
            await guarded(rt, job_id, f"merge {task_id}", _merge_node(rt, join_of(task_id)))
        else:
            await guarded(rt, job_id, f"part {task_id}",
                          run_part(rt, task_id, ctx["job_try"], end), end)


async def _run_nested(rt: Runtime, flows: WorkflowJobs, job_id: str, node_id: int,
                      job_try: int, slots: RemoteSlots) -> None:
    found = await _started(rt, flows, job_id, node_id)
    node = found.node
    if node is None or not found.runnable:
        return  # the job ended (failed, dismissed) or its workflow keys are gone
    value: Any = None
    cache: tuple[str, bytes] | None = None
    started = now_iso()
    if not found.done:
        try:
            inputs = node.filled(await _children(rt, found, node))
            if node.remote is not None:
                with slots.holding(job_try):
                    value = await run_remote(node, inputs, rt.settings,
                                             rt.settings.job_timeout)
            else:
                ran = await _run_local(rt, job_id, node, inputs, found.owner, job_try)
                if ran is None:
                    return  # split: the merge of its parts stores the node's value
                value, cache = ran
        except (Retry, RedisError):
            raise
        except Exception as exc:
            await rt.fail(job_id, node_error(exc, node))
            return
        await record_node(rt, job_id, node, started, value)
    await _finish(rt, flows, job_id, node, value, cache)
    if not found.done:  # its value is stored: its children's are no longer needed
        await rt.handoff().drop(value for _, value in found.children)


async def _finish(rt: Runtime, flows: WorkflowJobs, job_id: str, node: Node, value: Any,
                  cache: tuple[str, bytes] | None, *, fanned_out: bool = False) -> None:
    """Store the node's value and queue its parent if it was the last child; a fan-out
    node's join keys go in that same call."""
    try:
        encoded = await rt.handoff().put(value, rt.record_ttl,
                                         f"the value of process '{node.process_id}'")
    except ProcessError as exc:
        await _fail_node(rt, job_id, node, exc, fanned_out=fanned_out)
        return
    stored = await rt.persist(
        lambda: flows.store(job_id, node, encoded, cache, fanned_out=fanned_out),
        f"the output of node {node.path} of job {job_id}")
    if stored.pending == 0 and node.parent is not None:
        await flows.queue_node(job_id, node.parent, stored.parent_queue)


async def _fail_node(rt: Runtime, job_id: str, node: Node, exc: BaseException, *,
                     fanned_out: bool) -> None:
    await rt.fail(job_id, node_error(exc, node))
    if fanned_out:
        await rt.jobs.flows.drop_join(node_job_id(job_id, node.id))


async def _merge_node(rt: Runtime, join_id: str) -> None:
    """Merge a fan-out node's parts into its value, queued by its last part; the value is
    then stored as any node's is, and the node's join keys dropped in that call."""
    flows = rt.jobs.flows
    job_id, node_id = node_of(join_id)
    status, parts = await flows.for_node_merge(join_id)
    found = await _started(rt, flows, job_id, node_id) if status is StatusCode.RUNNING else None
    node = found.node if found is not None else None
    if found is None or node is None or not found.runnable:
        await flows.drop_join(join_id)  # the job ended: no value will be stored
        return
    if found.done:  # a re-run after the value was stored: only the parent may be left
        await _finish(rt, flows, job_id, node, None, None, fanned_out=True)
        return
    try:
        proc = _process(rt, node)
        if not isinstance(proc, FanOutProcess):
            raise ProcessError(f"process '{proc.id}' is not a fan-out process of this worker")
        if not parts.complete or parts.received is None:
            raise ProcessError(f"the merge found {len(parts.parts)} of {parts.total} parts: "
                               "the node's join state is incomplete or expired")
        inputs = decode_inputs(parts.received)
        results = await rt.handoff().read(parts.parts, f"the parts of node {node.path}")
        outputs = await run_with_limits(proc.merge(list(results.items()), inputs),
                                        rt.soft_limit(proc), rt.settings.hard_timeout_grace)
        digest = None
        if _cacheable(rt, proc, parts.received):
            digest = cache_digest(proc.id, proc.description.version, parts.received, None,
                                  ResponseMode.RAW.value, owner=found.owner)
        value, cache = await _value_of(rt, proc, node, outputs, digest)
    except (Retry, RedisError):
        raise
    except Exception as exc:
        await _fail_node(rt, job_id, node, exc, fanned_out=True)
        await rt.handoff().drop(parts.parts.values())
        return
    await _finish(rt, flows, job_id, node, value, cache, fanned_out=True)
    await rt.handoff().drop(parts.parts.values())  # the node's value is stored: they served


async def _run_local(rt: Runtime, job_id: str, node: Node, inputs: dict[str, Any],
                     owner: str | None,
                     job_try: int) -> tuple[Any, tuple[str, bytes] | None] | None:
    """The value of the node's output, and the (digest, result) to cache when it ran;
    None when its process fanned out (its merge stores the value)."""
    proc = _process(rt, node)
    if rt.retries.gave_up(proc, job_try):
        raise ProcessError(f"process '{proc.id}' gave up after "
                           f"{rt.retries.tries_allowed(proc)} tries "
                           "(its worker died or it failed each time)")
    received = await _received(rt, proc, inputs)
    digest = None
    if _cacheable(rt, proc, inputs):
        digest = cache_digest(proc.id, proc.description.version, received, None,
                              ResponseMode.RAW.value, owner=owner)
        hit = await rt.jobs.cached(digest, proc.id)
        if hit is not None:
            return _output_value(hit, node), None
    parts: list[tuple[str, Any]] = []
    try:
        if isinstance(proc, FanOutProcess):
            parts = await run_with_limits(proc.parts(decode_inputs(received)),
                                          rt.soft_limit(proc), rt.settings.hard_timeout_grace)
        if not parts:
            outputs = await run_with_limits(proc.run(decode_inputs(received), no_progress),
                                            rt.soft_limit(proc),
                                            rt.settings.hard_timeout_grace)
    except Exception as exc:
        rerun = rt.retries.rerun(proc, job_try)
        if rerun is not None:
            logger.warning("node {} raised {!r}; retrying (try {})", node.path, exc, job_try)
            raise rerun from exc
        raise
    if parts and isinstance(proc, FanOutProcess):
        # Its own join; a re-run of the node queues only the parts without a result.
        await rt.jobs.flows.split_node(job_id, node, parts, received, queue=rt.queue_of(proc),
                                       ttl=rt.record_ttl, needs_inputs=proc.parts_need_inputs)
        return None
    return await _value_of(rt, proc, node, outputs, digest)


async def _value_of(rt: Runtime, proc: BaseProcess, node: Node, outputs: Any,
                    digest: str | None) -> tuple[Any, tuple[str, bytes] | None]:
    """The value the node's output gives its parent, and the (digest, result) to cache."""
    # Everything inline: the value goes to the parent, not to a client. A file or a
    # stream is read within the result limit (the parent's input holds it).
    limit = rt.settings.max_result_bytes
    outputs = {name: await read_whole(value, name, limit) if is_stream(value) else value
               for name, value in outputs.items()}
    blob = encode_results(outputs, proc.description.outputs).document
    if len(blob) > rt.settings.max_result_bytes:
        raise ProcessError(f"the result of process '{proc.id}' is {len(blob)} bytes, over "
                           f"the limit of {rt.settings.max_result_bytes} "
                           "(FASTPROC_MAX_RESULT_BYTES)")
    return _output_value(blob, node), (digest, blob) if digest else None


async def _prepare_root(rt: Runtime, flows: WorkflowJobs, job_id: str,
                        prepared: list[dict[str, Any]], handed: list[Any]) -> None:
    """Append to `prepared` the inputs the root runs with (its children's values in
    their slots), after giving the job the cache key of those inputs; nothing when the
    job has ended, fails here, or is answered from the cache. The children's values as
    stored (descriptors of those in the output store) go to `handed`."""
    found = await _started(rt, flows, job_id, ROOT)
    node = found.node
    if found.status is StatusCode.RUNNING and node is None:
        # Every end of the job drops the workflow's keys, so they expired under it.
        await rt.fail(job_id, ProcessError(
            "the workflow's stored outputs are gone before its process could run").to_dict())
        return
    if node is None or not found.runnable:
        return  # the job ended
    handed.extend(value for _, value in found.children)
    try:
        inputs = node.filled(await _children(rt, found, node))
    except ProcessError as exc:
        await rt.fail(job_id, node_error(exc, node))
        return
    record = await rt.jobs.get(job_id)
    proc = rt.registry.get(node.process_id)
    if record is None or proc is None:
        prepared.append(inputs)  # gone, or not served here: `run_job` says so
        return
    try:
        rt.validator(proc).validate(inputs)
    except OGCException as exc:
        await rt.fail(job_id, node_error(exc, node))
        return
    digest = None
    if _cacheable(rt, proc, inputs):
        digest = cache_digest(proc.id, proc.description.version, inputs,
                              record.request.get("outputs"),
                              str(record.request.get("response", "raw")), owner=record.owner)
    if await flows.root_ready(job_id, digest) != 1:
        return
    hit = await rt.jobs.cached(digest, proc.id) if digest is not None else None
    if hit is None:
        prepared.append(inputs)
        return
    record.cache_key = digest
    await rt.complete(record, proc, EncodedResult(hit))


async def _children(rt: Runtime, found: NodeToRun, node: Node) -> list[tuple[Slot, Any]]:
    """The children's output values, those handed through the output store read back
    (within the result limit: the node's inputs hold them)."""
    values = await rt.handoff().read(
        {str(i): value for i, (_, value) in enumerate(found.children)},
        f"the inputs of process '{node.process_id}'")
    return [(slot, values[str(i)]) for i, (slot, _) in enumerate(found.children)]


def _process(rt: Runtime, node: Node) -> BaseProcess:
    proc = rt.registry.get(node.process_id)
    if proc is None:
        raise ProcessError(f"process '{node.process_id}' is not loaded by the worker that "
                           "took it")
    return proc


async def _received(rt: Runtime, proc: BaseProcess, inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs validated, references fetched (and validated) as a job's are."""
    validator = rt.validator(proc)
    validator.validate(inputs)
    if not references(inputs):
        return inputs
    async with asyncio.timeout(rt.settings.fetch_timeout):
        return await resolve_references(inputs, proc.description, validator, rt.settings)


def _cacheable(rt: Runtime, proc: BaseProcess, inputs: dict[str, Any]) -> bool:
    """As for an execute request: a deterministic process, inputs given by value (a
    reference may change behind its URL), none of the inputs that ask for a fresh run."""
    return rt.jobs.cache_enabled and is_cacheable(proc.deterministic, proc.uncached_inputs,
                                                  inputs)


def _output_value(blob: bytes, node: Node) -> Any:
    """What the node's selected output gives its parent: the value as a results document
    holds it (plain JSON, or a qualified value for bytes, text of a media type, objects)."""
    stored = decode_results(blob)
    if node.output not in stored:
        raise ProcessError(f"process '{node.process_id}' gave no output '{node.output}'")
    return document_value(stored[node.output])


def node_error(exc: BaseException, node: Node) -> dict[str, Any]:
    """The job's error for a node that failed: the node's path leads the detail, and is
    the `node` member (data, for the job page)."""
    error = error_of(exc, f"process '{node.process_id}'")
    if node.path:
        error["detail"] = f"{node.path}: {error.get('detail', '')}"
    error["node"] = node.path
    return error
