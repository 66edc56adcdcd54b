"""The task of one process of a workflow (arq id `{job}:node:{n}`, see `fastproc.jobs.flow`).

A nested node runs when its children have: its inputs are its own literal values with
each child's output value in its slot, validated against its process's description like
any input. A deterministic local process is answered from the result cache when it can
(the entry a plain execution of the same inputs would use), so a workflow run again with
one leaf changed runs only that leaf's path; otherwise it runs under the limits of a job
(a fan-out process splits, runs its parts and merges within the node's task), or — a
process of another server — is executed there (`fastproc.worker.remote`). Its output
value is then stored, once, in the workflow's keys (no larger than a job's result may be:
`FASTPROC_MAX_RESULT_BYTES`), and the last child of a parent queues it.

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

import orjson
from arq import Retry
from loguru import logger
from redis.exceptions import RedisError

from fastproc.authoring.process import BaseProcess, no_progress
from fastproc.cache_key import cache_digest, is_cacheable
from fastproc.jobs.flow import NodeToRun, WorkflowJobs
from fastproc.ogc.exceptions import OGCException, ProcessError
from fastproc.ogc.inputs import references
from fastproc.ogc.models import ResponseMode, StatusCode
from fastproc.store.result_document import (
    EncodedResult,
    decode_results,
    document_value,
    encode_results,
)
from fastproc.wire.names import node_of
from fastproc.worker.fetch import resolve_references
from fastproc.worker.invoke import decode_inputs, error_of, run_with_limits
from fastproc.worker.remote import RemoteSlots, run_remote
from fastproc.worker.runtime import CTX_KEY, Runtime
from fastproc.worker.tasks import GIVEN_INPUTS, guarded, run_job
from fastproc.workflows.tree import ROOT, Node

#: Where a worker keeps its `RemoteSlots` in arq's context (set at its start-up).
REMOTE_SLOTS = "fastproc.remote_slots"


async def run_node_task(ctx: dict[str, Any]) -> None:
    rt: Runtime = ctx[CTX_KEY]
    job_id, node_id = node_of(ctx["job_id"])
    flows = rt.jobs.flows
    with logger.contextualize(job_id=job_id):
        if node_id != ROOT:
            await guarded(rt, job_id, f"node {node_id}", _run_nested(
                rt, flows, job_id, node_id, ctx["job_try"], ctx[REMOTE_SLOTS]))
            return
        prepared: list[dict[str, Any]] = []
        await guarded(rt, job_id, "the inputs of the workflow's process",
                       _prepare_root(rt, flows, job_id, prepared))
        if prepared:
            # The job's own task function, in this task: it skips a job that has ended.
            await run_job({**ctx, "job_id": job_id, GIVEN_INPUTS: prepared[0]})


async def _started(rt: Runtime, flows: WorkflowJobs, job_id: str, node_id: int) -> NodeToRun:
    found = await flows.start(job_id, node_id, rt.record_ttl)
    if found.runnable and found.status is StatusCode.ACCEPTED:
        await rt.jobs.begin(job_id, rt.record_ttl)  # the job's first node to start
    return found


async def _run_nested(rt: Runtime, flows: WorkflowJobs, job_id: str, node_id: int,
                      job_try: int, slots: RemoteSlots) -> None:
    found = await _started(rt, flows, job_id, node_id)
    node = found.node
    if node is None or not found.runnable:
        return  # the job ended (failed, dismissed) or its workflow keys are gone
    value: Any = None
    cache: tuple[str, bytes] | None = None
    if not found.done:
        inputs = node.filled(found.children)
        try:
            if node.remote is not None:
                with slots.holding(job_try):
                    value = await run_remote(node, inputs, rt.settings,
                                             rt.settings.job_timeout)
            else:
                value, cache = await _run_local(rt, node, inputs, found.owner, job_try)
        except (Retry, RedisError):
            raise
        except Exception as exc:
            await rt.fail(job_id, node_error(exc, node))
            return
    encoded = orjson.dumps(value)
    if len(encoded) > rt.settings.max_result_bytes:
        await rt.fail(job_id, node_error(ProcessError(
            f"the value of process '{node.process_id}' is {len(encoded)} bytes, over the "
            f"limit of {rt.settings.max_result_bytes} (FASTPROC_MAX_RESULT_BYTES)"),
            node))
        return
    stored = await rt.persist(lambda: flows.store(job_id, node, encoded, cache),
                              f"the output of node {node.path} of job {job_id}")
    if stored.pending == 0 and node.parent is not None:
        await flows.queue_node(job_id, node.parent, stored.parent_queue)


async def _run_local(rt: Runtime, node: Node, inputs: dict[str, Any], owner: str | None,
                     job_try: int) -> tuple[Any, tuple[str, bytes] | None]:
    """The value of the node's output, and the (digest, result) to cache when it ran."""
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
    try:
        outputs = await run_with_limits(proc.run(decode_inputs(received), no_progress),
                                        rt.soft_limit(proc), rt.settings.hard_timeout_grace)
    except Exception as exc:
        rerun = rt.retries.rerun(proc, job_try)
        if rerun is not None:
            logger.warning("node {} raised {!r}; retrying (try {})", node.path, exc, job_try)
            raise rerun from exc
        raise
    # Everything inline: the value goes to the parent, not to a client.
    blob = encode_results(outputs, proc.description.outputs).document
    if len(blob) > rt.settings.max_result_bytes:
        raise ProcessError(f"the result of process '{proc.id}' is {len(blob)} bytes, over "
                           f"the limit of {rt.settings.max_result_bytes} "
                           "(FASTPROC_MAX_RESULT_BYTES)")
    return _output_value(blob, node), (digest, blob) if digest else None


async def _prepare_root(rt: Runtime, flows: WorkflowJobs, job_id: str,
                        prepared: list[dict[str, Any]]) -> None:
    """Append to `prepared` the inputs the root runs with (its children's values in
    their slots), after giving the job the cache key of those inputs; nothing when the
    job has ended, fails here, or is answered from the cache."""
    found = await _started(rt, flows, job_id, ROOT)
    node = found.node
    if found.status is StatusCode.RUNNING and node is None:
        # Every end of the job drops the workflow's keys, so they expired under it.
        await rt.fail(job_id, ProcessError(
            "the workflow's stored outputs are gone before its process could run").to_dict())
        return
    if node is None or not found.runnable:
        return  # the job ended
    inputs = node.filled(found.children)
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
