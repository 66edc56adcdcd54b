"""A workflow job's lifecycle (OGC API - Processes - Part 3, nested processes) as intents,
on the counter join of fan-out, generalised to a tree.

One job runs the whole tree. Its nodes are stored once (`Keys.flow`: nodes, pending
children, states, output values; every key with the job's TTL and dropped by any end of
the job, see `JobStore`), and each node is a task of its own with a fixed id
(`{job}:node:{n}`). The leaves are queued with the job. A node that has run stores the
value its output gives its parent and counts itself off the parent's pending children in
one Lua call, only if that value is new, so a re-run changes nothing; whoever sees the
count reach 0 queues the parent (a fixed id: never twice at once). No task ever waits on
another. When the root's children are done, the job runs on as an ordinary one with the
root's inputs filled from the stored values (`fastproc.worker.node_tasks`); the values stay in
the workflow's keys until the job ends and are never copied into the job's record.

    flows = workflow_jobs(jobs)
    job_id = await flows.submit("add", request, nodes, job_id=new_job_id(), owner=None)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from redis.asyncio.client import Pipeline

from fastproc.jobs.service import JobService
from fastproc.ogc.models import StatusCode
from fastproc.store.record import now_iso
from fastproc.store.scripts import register
from fastproc.wire.enqueue import enqueue_in, nudge
from fastproc.wire.keys import FlowKeys
from fastproc.wire.names import NODE_TASK, node_job_id
from fastproc.workflows.tree import ROOT, Node, Slot

#: A node's states besides a job's: before it starts it is `waiting` (for its children) or
#: `queued`; once the job failed or was dismissed, a node that did not fail is `stopped`.
RUNNING, SUCCESSFUL, WAITING, QUEUED, STOPPED = (
    "running", "successful", "waiting", "queued", "stopped")


@dataclass(frozen=True, slots=True)
class NodeToRun:
    """What a node task needs to know before it runs its process."""

    #: The job's status (None: the job is gone).
    status: StatusCode | None
    #: Who submitted the job (their cache entries are their own).
    owner: str | None
    #: The node (None: the workflow's keys are gone, the job ended or its root runs).
    node: Node | None
    #: The node's output is stored already (a re-run after a crash).
    done: bool
    #: Each child's slot in the node's inputs and its output value (None if missing).
    children: list[tuple[Slot, Any]]

    @property
    def runnable(self) -> bool:
        return self.node is not None and self.status in (StatusCode.ACCEPTED,
                                                         StatusCode.RUNNING)


@dataclass(frozen=True, slots=True)
class Stored:
    """What storing a node's output left: the parent's children still running (-1: the
    workflow's keys are gone) and the queue of the parent's workers."""

    pending: int
    parent_queue: str


class WorkflowJobs:
    """The workflow intents of the jobs service (see the module doc)."""

    def __init__(self, jobs: JobService) -> None:
        """Use `workflow_jobs`: one per jobs service (its scripts are registered once)."""
        self.jobs = jobs
        self.redis = jobs.store.redis
        self.keys = jobs.keys
        self._start = register(self.redis, "flow_start")
        self._store = register(self.redis, "flow_store")
        self._root = register(self.redis, "flow_root")

    def _flow(self, job_id: str) -> FlowKeys:
        return self.keys.flow(job_id)

    async def submit(self, process_id: str, request: dict[str, Any], nodes: list[Node], *,
                     job_id: str, owner: str | None) -> str:
        """Create the job of a validated tree and queue its leaves, in one round trip."""
        ttl = self.jobs.store.active_ttl
        flow = self._flow(job_id)

        def tasks(pipe: Pipeline) -> None:
            pipe.hset(flow.nodes, mapping={str(n.id): orjson.dumps(n.dump()) for n in nodes})
            pipe.hset(flow.pending, mapping={str(n.id): len(n.children)
                                             for n in nodes if n.children})
            pipe.expire(flow.nodes, ttl)
            pipe.expire(flow.pending, ttl)
            pipe.hset(self.keys.job(job_id),
                      mapping={"nodes_done": 0, "nodes_total": len(nodes) - 1})
            leaves = [n for n in nodes if not n.children]
            for leaf in leaves:
                enqueue_in(pipe, node_job_id(job_id, leaf.id), _queue(leaf), NODE_TASK)
            for queue in sorted({_queue(leaf) for leaf in leaves}):
                nudge(pipe, self.keys.prefix, queue)

        return await self.jobs.submit(process_id, request, queue=_queue(nodes[ROOT]),
                                      job_id=job_id, owner=owner, tasks=tasks)

    async def start(self, job_id: str, node_id: int, ttl: int) -> NodeToRun:
        """Read a node and its children's outputs; mark it running unless it has run.
        `ttl` extends the workflow's keys to what the running job needs."""
        flow = self._flow(job_id)
        reply = await self._start(
            keys=[self.keys.job(job_id), flow.nodes, flow.states, flow.results, flow.pending],
            args=[node_id, self.keys.events, job_id, now_iso(), ttl])
        status = StatusCode(reply[0].decode()) if reply[0] else None
        owner = reply[1].decode() or None
        if not reply[2]:
            return NodeToRun(status, owner, None, False, [])
        node = Node.load(orjson.loads(reply[2]))
        pairs = reply[4:]
        children = [(Slot(**orjson.loads(slot)), orjson.loads(value) if value else None)
                    for slot, value in zip(pairs[::2], pairs[1::2], strict=True)]
        return NodeToRun(status, owner, node, bool(reply[3]), children)

    async def store(self, job_id: str, node: Node, value: bytes,
                    cache: tuple[str, bytes] | None = None) -> Stored:
        """Store what a node's output gives its parent, `value` as JSON (if new: then
        count it off the parent's pending children and write `cache`, (digest, result
        document))."""
        flow = self._flow(job_id)
        cache_key = self.keys.cache(cache[0]) if cache else self.keys.job(job_id)
        pending, queue = await self._store(
            keys=[self.keys.job(job_id), flow.nodes, flow.pending, flow.states, flow.results,
                  cache_key],
            args=[node.id, value, self.keys.events, job_id, now_iso(),
                  cache[1] if cache else b"", self.jobs.cache.ttl])
        return Stored(int(pending), queue.decode() if queue else "")

    async def queue_node(self, job_id: str, node_id: int, queue: str) -> None:
        """Queue a node whose children are done (a fixed id: queued at most once at a time)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            enqueue_in(pipe, node_job_id(job_id, node_id), queue, NODE_TASK, only_new=True)
            nudge(pipe, self.keys.prefix, queue)
            await pipe.execute()

    async def root_ready(self, job_id: str, cache_key: str | None) -> int:
        """The job's own process is about to run on its children's values: give the job
        `cache_key`, the digest of those inputs (its result is cached there). 1 done, 0
        the workflow's keys are gone, -1 the job is not running."""
        outcome = await self._root(keys=[self.keys.job(job_id), self._flow(job_id).nodes],
                                   args=[cache_key or ""])
        return int(outcome)

    async def states(self, job_id: str) -> dict[int, str] | None:
        """Each node's state while the workflow's keys exist (None once they are gone)."""
        flow = self._flow(job_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hkeys(flow.nodes)
            pipe.hgetall(flow.states)
            pipe.hgetall(flow.pending)
            ids, states, pending = await pipe.execute()
        if not ids:
            return None
        found: dict[int, str] = {}
        for raw in ids:
            state = states.get(raw)
            if state is None:
                state = WAITING if int(pending.get(raw, 0)) > 0 else QUEUED
            found[int(raw)] = state.decode() if isinstance(state, bytes) else state
        return found


@cache
def workflow_jobs(jobs: JobService) -> WorkflowJobs:
    """The workflow intents over a jobs service (built once per service)."""
    return WorkflowJobs(jobs)


def _queue(node: Node) -> str:
    if node.queue is None:
        raise ValueError(f"node {node.path or 'root'} has no queue")
    return node.queue
