"""The Redis commands of a workflow job's keys (`Keys.flow`: nodes, pending children, states,
output values), used by the workflow lifecycle only (`fastproc.jobs.flow`).

The keys are created with the job (`JobStore.create`, its `hashes`), live as long as it
runs, and are dropped by any end of the job (`JobStore`, see `_join_keys`).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from fastproc.store.record import now_iso
from fastproc.store.scripts import register
from fastproc.wire.enqueue import enqueue_in, nudge
from fastproc.wire.keys import Keys
from fastproc.wire.names import NODE_TASK, node_job_id


class FlowState:
    """Reads and writes the keys of workflow jobs, one Lua call or pipeline each."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self._start = register(redis, "flow_start")
        self._store = register(redis, "flow_store")
        self._root = register(redis, "flow_root")

    async def start(self, job_id: str, node_id: int, ttl: int) -> list[Any]:
        """`flow_start.lua`: the job's status and owner, the node, whether it has run, and
        its children's slots and values; marks it running unless it has run."""
        flow = self.keys.flow(job_id)
        reply: list[Any] = await self._start(
            keys=[self.keys.job(job_id), flow.nodes, flow.states, flow.results, flow.pending],
            args=[node_id, self.keys.events, job_id, now_iso(), ttl])
        return reply

    async def store(self, job_id: str, node_id: int, value: bytes,
                    cache: tuple[str, bytes] | None, cache_ttl: int,
                    drop: list[str] | None = None) -> tuple[int, str]:
        """`flow_store.lua`: the parent's children still running and its queue; `drop`:
        the join keys of the node's fan-out, deleted in the same call."""
        flow = self.keys.flow(job_id)
        cache_key = self.keys.cache(cache[0]) if cache else self.keys.job(job_id)
        pending, queue = await self._store(
            keys=[self.keys.job(job_id), flow.nodes, flow.pending, flow.states, flow.results,
                  cache_key, *(drop or ())],
            args=[node_id, value, self.keys.events, job_id, now_iso(),
                  cache[1] if cache else b"", cache_ttl])
        return int(pending), queue.decode() if queue else ""

    async def queue_node(self, job_id: str, node_id: int, queue: str) -> None:
        """Queue a node's task (a fixed id: queued at most once at a time)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            enqueue_in(pipe, node_job_id(job_id, node_id), queue, NODE_TASK, only_new=True)
            nudge(pipe, self.keys.prefix, queue)
            await pipe.execute()

    async def root_ready(self, job_id: str, cache_key: str | None) -> int:
        """`flow_root.lua`: 1 done, 0 the workflow's keys are gone, -1 the job is not
        running."""
        outcome = await self._root(keys=[self.keys.job(job_id), self.keys.flow(job_id).nodes],
                                   args=[cache_key or ""])
        return int(outcome)

    async def read(self, job_id: str) -> tuple[list[bytes], dict[bytes, bytes],
                                               dict[bytes, bytes]]:
        """The node ids, the states stored and the pending counts, one round trip."""
        flow = self.keys.flow(job_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hkeys(flow.nodes)
            pipe.hgetall(flow.states)
            pipe.hgetall(flow.pending)
            ids, states, pending = await pipe.execute()
        return ids, states, pending
