"""Redis key names, arq's and fastproc's: the one place they are spelled (their types and
lifetimes are in docs/keyspace.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class FlowKeys(NamedTuple):
    """The keys of one workflow job (see `fastproc.jobs.flow`), all gone when it ends."""

    #: node id -> node (JSON), written once at submission.
    nodes: str
    #: node id -> children still running, for nodes that have children.
    pending: str
    #: node id -> its state while the job runs (running, successful).
    states: str
    #: node id -> the value its output gives its parent (JSON).
    results: str


@dataclass(frozen=True, slots=True)
class Keys:
    """Builds every key fastproc uses from the configured prefix."""

    prefix: str = "fastproc"

    @property
    def processes(self) -> str:
        """The catalogue: process id -> its description, as workers report it."""
        return f"{self.prefix}:processes"

    @property
    def processes_served(self) -> str:
        """Until when (ms, the server's clock) some worker serves each process."""
        return f"{self.processes}:served"

    @property
    def processes_workers(self) -> str:
        """Until when (ms) each live worker's catalogue report holds."""
        return f"{self.processes}:workers"

    @property
    def jobs(self) -> str:
        """Every job without an owner (created while access control was off)."""
        return self.job_index()

    def job_index(self, owner: str | None = None, process_id: str | None = None) -> str:
        """Job ids by creation time, as one listing reads them: an owner's jobs (or the
        jobs without an owner), optionally of one process. Owner names never contain `:`
        (see `fastproc.api.auth`), so no owner's keys can be another's."""
        scope = f"{self.prefix}:jobs" if owner is None else f"{self.prefix}:jobs:owner:{owner}"
        return scope if process_id is None else f"{scope}:process:{process_id}"

    def drafts(self, owner: str | None) -> str:
        """A caller's created, unstarted jobs (Part 4), scored by when each expires: what
        `FASTPROC_MAX_CREATED_PER_CALLER` counts."""
        return f"{self.prefix}:drafts" if owner is None else f"{self.prefix}:drafts:owner:{owner}"

    def job_indexes(self, owner: str | None, process_id: str) -> list[str]:
        """The indexes a new job is added to."""
        return [self.job_index(owner), self.job_index(owner, process_id)]

    @property
    def stats(self) -> str:
        """Counters behind /metrics: jobs by process and outcome, run-time histogram."""
        return f"{self.prefix}:stats"

    # The dashboard's history (fastproc.store.activity). `transition.lua` spells the first
    # two from the stats key it is given: keep them `{stats}:ended:...` and `{stats}:failures`.
    def ended(self, bucket: int, status: str) -> str:
        """Jobs that ended in `status` during one time bucket (a counter with a TTL)."""
        return f"{self.stats}:ended:{bucket}:{status}"

    @property
    def failures(self) -> str:
        """The last failures, newest first (a capped list)."""
        return f"{self.stats}:failures"

    def queue_depth(self, bucket: int) -> str:
        """Tasks waiting in the queues, as a dashboard last read them in one time bucket."""
        return f"{self.stats}:depth:{bucket}"

    def worker(self, worker_id: str) -> str:
        """A live worker's own figures (tasks running, done, failed...), renewed by it."""
        return f"{self.prefix}:worker:{worker_id}"

    def job_logs(self, job_id: str) -> str:
        """What a job's process logged: the newest lines, JSON each (fastproc.store.logbook)."""
        return f"{self.prefix}:job:{job_id}:logs"

    def job_trace(self, job_id: str) -> str:
        """What a job's tasks left besides logs: log counters, each part's run times."""
        return f"{self.prefix}:job:{job_id}:trace"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    def health(self, queue: str) -> str:
        """The last health report of a worker of `queue` (arq's health check key)."""
        return f"{self.prefix}:health:{queue}"

    def wake(self, queue: str) -> str:
        """The pub/sub channel on which enqueuers nudge the idle workers of `queue`."""
        return f"{self.prefix}:wake:{queue}"

    def job(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    def result(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}:result"

    def queued(self, process_id: str) -> str:
        """Jobs of a process accepted but not yet started (only with a queue cap set)."""
        return f"{self.prefix}:queued:{process_id}"

    def output(self, job_id: str, name: str) -> str:
        """An output stored apart (raw bytes), see `fastproc.store.result_document`."""
        return f"{self.prefix}:job:{job_id}:output:{name}"

    @property
    def output_expiry(self) -> str:
        """Object keys of outputs in the output store by when they expire (ms): what the
        workers' sweep deletes, since Redis tells nothing reliable when a job expires."""
        return f"{self.prefix}:outputs:expiry"

    def cache(self, digest: str) -> str:
        return f"{self.prefix}:cache:{digest}"

    def cache_origin(self, digest: str) -> str:
        """The id of the job whose result a cache entry holds, with the entry's TTL.
        `transition.lua` spells it from the entry's key: keep it `{cache}:origin`."""
        return f"{self.cache(digest)}:origin"

    def job_provenance(self, job_id: str) -> str:
        """What a job's provenance needs that its record does not hold: the worker, the
        references fetched, the parts' and nested processes' facts (`fastproc.store.
        provenance_log`), with the job's TTL."""
        return f"{self.prefix}:job:{job_id}:provenance"

    def join(self, job_id: str) -> str:
        return f"{self.prefix}:join:{job_id}"

    def join_items(self, job_id: str) -> str:
        return f"{self.prefix}:join:{job_id}:items"

    def join_parts(self, job_id: str) -> str:
        return f"{self.prefix}:join:{job_id}:parts"

    def flow(self, job_id: str) -> FlowKeys:
        base = f"{self.prefix}:flow:{job_id}"
        return FlowKeys(f"{base}:nodes", f"{base}:pending", f"{base}:states",
                        f"{base}:results")
