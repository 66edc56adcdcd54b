"""A workflow job's lifecycle (OGC API - Processes - Part 3, nested processes) as intents,
on the counter join of fan-out, generalised to a tree.

One job runs the whole tree. Its nodes are stored once (`Keys.flow`: nodes, pending
children, states, output values; every key with the job's TTL and dropped by any end of
the job, see `fastproc.store.flow_state`), and each node is a task of its own with a fixed id
(`{job}:node:{n}`). The leaves are queued with the job. A node that has run stores the
value its output gives its parent and counts itself off the parent's pending children in
one Lua call, only if that value is new, so a re-run changes nothing; whoever sees the
count reach 0 queues the parent (a fixed id: never twice at once). No task ever waits on
another. When the root's children are done, the job runs on as an ordinary one with the
root's inputs filled from the stored values (`fastproc.worker.node_tasks`); the values stay in
the workflow's keys until the job ends and are never copied into the job's record.

A node whose process is a fan-out splits like a job (`split_node`): its parts and its merge
are node tasks of their own (`{job}:node:{n}:part:{i}`, `{job}:node:{n}:merge`) on a join of
its own (`{job}:node:{n}`, see `fastproc.store.join_state`), and its merge stores the node's
value as any node does, dropping the join's keys in that call. Any other end of the node
(its job failed or was dismissed) drops them too (`drop_join`), and they expire with the
job's TTL if nothing else does.

    job_id = await jobs.flows.submit("add", request, nodes, job_id=new_job_id(), owner=None)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from fastproc.ogc.exceptions import TooManyJobs
from fastproc.ogc.models import StatusCode
from fastproc.store.job_store import JobStore, NewTask
from fastproc.store.join_state import PartsForMerge
from fastproc.wire.names import NODE_TASK, node_job_id
from fastproc.workflows.tree import Node, Slot

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
    """The workflow intents of the jobs service (see the module doc): `JobService.flows`."""

    def __init__(self, store: JobStore, cache_ttl: int) -> None:
        self._store = store
        self._flow = store.flow
        self._cache_ttl = cache_ttl

    async def submit(self, process_id: str, request: dict[str, Any], nodes: list[Node], *,
                     job_id: str, owner: str | None, guard: int | None = None) -> str:
        """Create the job of a validated tree, its nodes and its leaves' tasks, in one
        round trip; its id. A full queue cap refuses it with `TooManyJobs` (429).
        `guard`: this starts a created job (Part 4), see `JobService.submit_unless_cached`."""
        flow = self._store.keys.flow(job_id)
        leaves = [NewTask(node_job_id(job_id, n.id), _queue(n), NODE_TASK)
                  for n in nodes if not n.children]
        submitted = await self._store.create(
            job_id, process_id, request, tasks=leaves, owner=owner,
            fields={"nodes_done": 0, "nodes_total": len(nodes) - 1},
            hashes={flow.nodes: {str(n.id): orjson.dumps(n.dump()) for n in nodes},
                    flow.pending: {str(n.id): len(n.children) for n in nodes if n.children}},
            guard=guard)
        if submitted.moved is not None:
            raise DraftMoved(StatusCode(submitted.moved) if submitted.moved else None)
        if submitted.full:
            raise too_many(process_id, self._store.queue_cap)
        return job_id

    async def start(self, job_id: str, node_id: int, ttl: int) -> NodeToRun:
        """Read a node and its children's outputs; mark it running unless it has run.
        `ttl` extends the workflow's keys to what the running job needs."""
        reply = await self._flow.start(job_id, node_id, ttl)
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
                    cache: tuple[str, bytes] | None = None, *,
                    fanned_out: bool = False) -> Stored:
        """Store what a node's output gives its parent, `value` as JSON (if new: then
        count it off the parent's pending children and write `cache`, (digest, result
        document)); `fanned_out`: the node's join keys go in the same call."""
        drop = self._store.join.all_keys(node_job_id(job_id, node.id)) if fanned_out else None
        pending, queue = await self._flow.store(job_id, node.id, value, cache, self._cache_ttl,
                                                drop)
        return Stored(pending, queue)

    async def split_node(self, job_id: str, node: Node, parts: list[tuple[str, Any]],
                         received: dict[str, Any], *, queue: str, ttl: int,
                         needs_inputs: bool) -> bool:
        """Store a fan-out node's items and queue its part tasks on its own join, if the
        job still runs, in one call (a split made before, a re-run, is resumed instead:
        only the parts without a result are queued again); False if the job has ended."""
        outcome = await self._store.join.split(
            node_job_id(job_id, node.id), parts, received, ttl=ttl, queue=queue,
            needs_inputs=needs_inputs, node=(node.process_id, node.path))
        return outcome != "not running"

    async def for_node_merge(self, join_id: str) -> tuple[StatusCode | None, PartsForMerge]:
        """The job's status and what the merge of a node's join needs, one round trip."""
        return await self._store.join.for_node_merge(join_id)

    async def drop_join(self, join_id: str) -> None:
        """Drop the keys of a node's join whose node will not finish (its job ended)."""
        await self._store.join.drop(join_id)

    async def queue_node(self, job_id: str, node_id: int, queue: str) -> None:
        """Queue a node whose children are done (a fixed id: queued at most once at a time)."""
        await self._flow.queue_node(job_id, node_id, queue)

    async def root_ready(self, job_id: str, cache_key: str | None) -> int:
        """The job's own process is about to run on its children's values: give the job
        `cache_key`, the digest of those inputs (its result is cached there). 1 done, 0
        the workflow's keys are gone, -1 the job is not running."""
        return await self._flow.root_ready(job_id, cache_key)

    async def states(self, job_id: str) -> dict[int, str] | None:
        """Each node's state while the workflow's keys exist (None once they are gone)."""
        ids, states, pending = await self._flow.read(job_id)
        if not ids:
            return None
        found: dict[int, str] = {}
        for raw in ids:
            stored = states.get(raw)
            found[int(raw)] = (stored.decode() if stored is not None
                               else WAITING if int(pending.get(raw, 0)) > 0 else QUEUED)
        return found


def _queue(node: Node) -> str:
    if node.queue is None:
        raise ValueError(f"node {node.path or 'root'} has no queue")
    return node.queue


class DraftMoved(Exception):
    """A created job (Part 4) was not as its start read it: updated meanwhile (read it
    again), or started, dismissed or gone (`status`, None when gone)."""

    def __init__(self, status: StatusCode | None) -> None:
        super().__init__(f"the created job is {status.value if status else 'gone'}")
        self.status = status


def too_many(process_id: str, cap: int) -> TooManyJobs:
    """What a full queue cap answers a submission (429)."""
    return TooManyJobs(f"process '{process_id}' already has {cap} queued jobs; retry later",
                       headers={"Retry-After": "5"})
