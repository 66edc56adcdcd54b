"""Job records and their state machine in Redis.

Every transition is one Lua call: compare the current status, write the new one, set TTLs,
store or drop results, and publish the event, so no reader ever sees half a change and a
terminal state never changes.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from redis.asyncio import Redis
from redis.exceptions import WatchError

from fastproc.ogc.models import TERMINAL_STATES, StatusCode
from fastproc.store.batch import Batcher
from fastproc.store.event_hub import EVENT_RESULT_BYTES
from fastproc.store.flow_state import FlowState
from fastproc.store.join_state import JoinState
from fastproc.store.listing import Cursor, IndexWalk, JobFilter, JobPage, MergedWalk
from fastproc.store.provenance_log import RUN_FACTS
from fastproc.store.record import STATUS_FIELDS, JobRecord, UnreadableRecord, now_iso, parse_iso
from fastproc.store.replication import run_replicated
from fastproc.store.result_document import EncodedResult, decode_results, is_apart
from fastproc.store.scripts import INDEX_RENEWAL, register
from fastproc.wire.enqueue import QueuedTask, abort_tasks, queued_task
from fastproc.wire.keys import Keys
from fastproc.wire.message import ABORT_JOBS_SS, ClaimStarts, TaskEnd
from fastproc.wire.names import RUN_TASK

_ACTIVE = (StatusCode.ACCEPTED, StatusCode.RUNNING)
#: `STATUS_FIELDS` as HMGET takes them.
_STATUS_FIELDS = list(STATUS_FIELDS)
#: The terminal states that still hold results (a dismissed job holds none).
_FINISHED = TERMINAL_STATES - {StatusCode.DISMISSED}
#: Seconds the counters behind /metrics live after the last worker start or scrape.
STATS_TTL = 90 * 86_400


def _states(states: Sequence[StatusCode]) -> str:
    return "," + ",".join(s.value for s in states) + ","


@dataclass(frozen=True, slots=True)
class Submitted:
    """What a submission came to: queued, answered by the cache (`hit`), or refused by the
    process's queue cap (`full`)."""

    hit: bytes | None = None
    full: bool = False
    #: The status of a created job a guarded start did not find as it read it (Part 4):
    #: updated, started or dismissed meanwhile ('' when it is gone).
    moved: str | None = None


class NewTask(NamedTuple):
    """An arq task queued with a new job: its id, its queue, the task function."""

    task_id: str
    queue: str
    function: str = RUN_TASK


@dataclass(frozen=True, slots=True)
class _Submission:
    """One job for `submit.lua`."""

    job_id: str
    process_id: str
    status: StatusCode
    ttl: int
    pairs: list[str | bytes | int]
    cache_key: str | None
    result: bytes
    tasks: list[tuple[str, str, QueuedTask]]
    hashes: dict[str, list[str | bytes | int]]
    indexes: list[str]
    now: str
    guard: str = ""


@dataclass(frozen=True, slots=True)
class Drafted:
    """What writing a created job's definition came to: its revision, or refused because
    the caller holds too many created jobs (`full`) or the job is no longer created
    (`status`, None when it is gone)."""

    revision: int = 0
    full: bool = False
    status: StatusCode | None = None


@dataclass(frozen=True, slots=True)
class _Read:
    """One read of a job's status (or its record and result) in a batch of reads."""

    job_id: str
    with_result: bool


@dataclass(frozen=True, slots=True)
class _Start:
    """One job for `begin.lua`."""

    job_id: str
    ttl: int


@dataclass(frozen=True, slots=True)
class _Move:
    """One step of a job for `transition.lua`."""

    job_id: str
    allowed: str
    to: str
    ttl: int
    pairs: list[str]
    result: bytes
    cache_key: str | None
    cache_ttl: int
    delete: Sequence[str]
    end: TaskEnd | None


class JobStore:
    """The Redis commands of job records, their indexes and outputs (and, in `join`, of the
    fan-out join state; in `flow`, of a workflow's). `JobService` owns it, and no other code
    holds one: every change to a job is an intent of the service."""

    def __init__(self, redis: Redis, keys: Keys, *, job_ttl: int, active_ttl: int,
                 queue_cap: int = 0, min_replicas: int = 0) -> None:
        self.redis = redis
        #: Replicas each batch of submissions and steps waits for (`store.replication`).
        self.min_replicas = min_replicas
        self.keys = keys
        self.job_ttl = job_ttl
        self.active_ttl = active_ttl
        self.queue_cap = queue_cap
        self._release = register(redis, "release")
        self._transition = register(redis, "transition")
        self._progress = register(redis, "progress")
        self._begin = register(redis, "begin")
        self._submit = register(redis, "submit")
        self._draft = register(redis, "draft")
        # Submissions, starts and steps asked for together share one call (group commit).
        self._submissions = Batcher(self._send_submissions)
        self._starts = Batcher(self._send_starts)
        self._moves = Batcher(self._send_moves)
        # So do the reads of statuses and results (clients poll together).
        self._reads = Batcher(self._send_reads)
        #: When this process last renewed each job index's TTL (monotonic seconds).
        self._indexes_renewed: dict[str, float] = {}
        self.join = JoinState(redis, keys)
        self.flow = FlowState(redis, keys)

    # -- creation ---------------------------------------------------------------------------

    async def create(
        self,
        job_id: str,
        process_id: str,
        request: dict[str, Any],
        *,
        tasks: Sequence[NewTask] = (),
        cache_key: str | None = None,
        lookup: bool = False,
        owner: str | None = None,
        awaited: bool = False,
        cached_result: bytes | None = None,
        fields: dict[str, str | int] | None = None,
        hashes: dict[str, dict[str, str | bytes | int]] | None = None,
        guard: int | None = None,
    ) -> Submitted:
        """Create the job and queue its `tasks` in one Lua call (shared with the creations
        asked for meanwhile), unless `lookup` finds the request's result cached under
        `cache_key` (then nothing is created), or the process's queue cap is reached.

        `cached_result`: the job is created `successful` with this result (answered from
        the cache: not counted as submitted, not held to the cap). `fields` go into the
        record too, and `hashes` are written with it, with its TTL (a workflow's nodes).
        `awaited`: a request waits for the job, so its end event carries a small result
        (`EVENT_RESULT_BYTES`). `guard`: the job exists, created (Part 4), and this starts
        it only if it still is at this revision (else `Submitted.moved`)."""
        now = now_iso()
        record: dict[str, str | bytes | int] = {"request": orjson.dumps(request)}
        if cache_key:
            record["cache_key"] = cache_key
        if owner:
            record["owner"] = owner
        if awaited:
            record["awaited"] = "1"
        status, ttl = StatusCode.ACCEPTED, self.active_ttl
        if cached_result is not None:
            status, ttl = StatusCode.SUCCESSFUL, self.job_ttl
            record.update(started=now, finished=now, progress="100",
                          message="result from cache")
        record.update(fields or {})
        outcome = await self._submissions(_Submission(
            job_id, process_id, status, ttl, _pairs(record),
            cache_key if lookup else None, cached_result or b"",
            [(t.task_id, t.queue, queued_task(t.task_id, t.function)) for t in tasks],
            {key: _pairs(pairs) for key, pairs in (hashes or {}).items() if pairs},
            [] if guard is not None else self.keys.job_indexes(owner, process_id), now,
            "" if guard is None else str(guard)))
        kind = outcome[0]
        if kind == b"hit":
            return Submitted(hit=outcome[1])
        if kind == b"moved":
            return Submitted(moved=outcome[1].decode())
        return Submitted(full=kind == b"full")

    async def _send_submissions(self, batch: Sequence[_Submission]) -> list[Any]:
        keys: list[str] = [self.keys.stats]
        args: list[Any] = [STATS_TTL, len(batch)]
        for one in batch:
            job_key = self.keys.job(one.job_id)
            capped = self.queue_cap and not one.result
            keys += [job_key, self.keys.cache(one.cache_key) if one.cache_key else job_key,
                     self.keys.queued(one.process_id) if capped else job_key,
                     self.keys.result(one.job_id)]
            for _, queue, task in one.tasks:
                keys += [task.key, queue]
            keys += [*one.indexes, *one.hashes]
            args += [one.job_id, one.process_id,
                     f"cachehit|{one.process_id}" if one.cache_key else "",
                     self.queue_cap if capped else 0, one.ttl, one.now, _score(one.now),
                     self._index_ttl_due(one.indexes), one.status.value, one.result,
                     len(one.tasks), len(one.indexes), len(one.hashes), len(one.pairs) // 2]
            for task_id, queue, task in one.tasks:
                args += [task_id, task.message, task.ttl_ms, task.score, self.keys.wake(queue)]
            args += [len(pairs) // 2 for pairs in one.hashes.values()]
            args += one.pairs
            for pairs in one.hashes.values():
                args += pairs
            args.append(one.guard)
        outcomes: list[Any] = await run_replicated(self.redis, self._submit, keys, args,
                                                   self.min_replicas)
        return outcomes

    def _index_ttl_due(self, indexes: Sequence[str]) -> int:
        """The TTL to give these indexes now, or 0 if this process renewed them lately:
        each lives `INDEX_RENEWAL` longer than a job record, so it never goes first."""
        now = time.monotonic()
        if all(now - self._indexes_renewed.get(i, float("-inf")) < INDEX_RENEWAL
               for i in indexes):
            return 0
        for index in indexes:
            self._indexes_renewed[index] = now
        return self.active_ttl + INDEX_RENEWAL

    async def draft(self, job_id: str, process_id: str, fields: dict[str, str | bytes], *,
                    owner: str | None, ttl: int, limit: int, update: bool) -> Drafted:
        """Create a job `created` (Part 4) with these record fields, or (`update`) replace
        them while it is still created; one Lua call (`draft.lua`)."""
        now = now_iso()
        indexes = [] if update else self.keys.job_indexes(owner, process_id)
        reply = await self._draft(
            keys=[self.keys.job(job_id), self.keys.drafts(owner), *indexes],
            args=["update" if update else "create", job_id, now, _score(now), ttl, limit,
                  self.keys.job(""), max(self.active_ttl, ttl) + INDEX_RENEWAL,
                  process_id, *_pairs(fields)])
        if reply[0] == b"ok":
            return Drafted(revision=int(reply[1]))
        if reply[0] == b"full":
            return Drafted(full=True)
        return Drafted(status=StatusCode(reply[1].decode()) if reply[1] else None)

    # -- reading ----------------------------------------------------------------------------

    async def get(self, job_id: str) -> JobRecord | None:
        raw = await self.redis.hgetall(self.keys.job(job_id))
        return JobRecord.from_hash(job_id, raw) if raw else None

    async def get_status(self, job_id: str) -> tuple[JobRecord, str] | None:
        """The record without its request (what a status document shows), and a digest of
        it that changes whenever the record does (an ETag's stuff); one HMGET."""
        row = await self._reads(_Read(job_id, with_result=False))
        if row[1] is None:  # no status: no record
            return None
        digest = hashlib.blake2b(b"\0".join(v or b"" for v in row), digest_size=12)
        data = {k: v.decode(errors="replace")
                for k, v in zip(STATUS_FIELDS, row, strict=True) if v}
        return JobRecord.from_fields(job_id, data), digest.hexdigest()

    async def request_of(self, job_id: str) -> dict[str, Any] | None:
        """The execute request a job was created with (None if the job is gone)."""
        raw = await self.redis.hget(self.keys.job(job_id), "request")
        request: dict[str, Any] | None = orjson.loads(raw) if raw else None
        return request

    async def status_of(self, job_id: str) -> StatusCode | None:
        raw = await self.redis.hget(self.keys.job(job_id), "status")
        return StatusCode(raw.decode()) if raw else None

    async def get_with_result(self, job_id: str) -> tuple[JobRecord | None, bytes | None]:
        raw, result = await self._reads(_Read(job_id, with_result=True))
        return (JobRecord.from_hash(job_id, raw) if raw else None), result

    async def _send_reads(self, batch: Sequence[_Read]) -> list[Any]:
        """The reads of a batch in one pipeline: a status's fields, or a record and result."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for read in batch:
                if read.with_result:
                    pipe.hgetall(self.keys.job(read.job_id))
                    pipe.get(self.keys.result(read.job_id))
                else:
                    pipe.hmget(self.keys.job(read.job_id), _STATUS_FIELDS)
            replies = iter(await pipe.execute())
        return [(next(replies), next(replies)) if read.with_result else next(replies)
                for read in batch]

    async def find(self, flt: JobFilter, *, limit: int, offset: int = 0,
                   after: Cursor | None = None, before: Cursor | None = None) -> JobPage:
        """Newest first: the page after `after` (or from the newest), or with `before`
        the `limit` jobs just before it. It reads the indexes of the filter's owner and
        processes only, so it costs the page and the jobs the other filters step over."""
        newest_first = before is None
        wanted = offset + limit + 1
        batch = min(max(wanted, 16), 1000)
        walk = MergedWalk([
            IndexWalk(self.redis, key, newest_first=newest_first,
                      start=after if newest_first else before, lowest=flt.created_after,
                      highest=flt.created_before, batch=batch)
            for key in flt.indexes(self.keys)], newest_first)
        found: list[tuple[JobRecord, Cursor]] = []
        gone: dict[str, list[str]] = defaultdict(list)
        while len(found) < wanted:
            members = await walk.take(min(max(wanted - len(found), 16), 500))
            if not members:
                break
            async with self.redis.pipeline(transaction=False) as pipe:
                for _, member in members:
                    pipe.hmget(self.keys.job(member.job_id), list(STATUS_FIELDS))
                rows = await pipe.execute()
            for (index, member), row in zip(members, rows, strict=True):
                if row[1] is None:  # the record has expired
                    gone[index].append(member.job_id)
                    continue
                data = {k: v.decode(errors="replace")
                        for k, v in zip(STATUS_FIELDS, row, strict=True) if v}
                try:
                    record = JobRecord.from_fields(member.job_id, data)
                except UnreadableRecord:  # logged; one bad record must not fail the list
                    continue
                if flt.matches(record):
                    found.append((record, member))
        await self._prune(gone)
        page = found[offset:offset + limit]
        if not newest_first:
            page.reverse()
        return JobPage([record for record, _ in page], [cursor for _, cursor in page],
                       more=len(found) > offset + limit)

    async def _prune(self, gone: dict[str, list[str]]) -> None:
        """Drop index members whose record has expired (after the walk: see listing)."""
        if not gone:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for index, job_ids in gone.items():
                pipe.zrem(index, *job_ids)
            await pipe.execute()

    # -- transitions ------------------------------------------------------------------------

    async def _move(
        self,
        job_id: str,
        allowed: Sequence[StatusCode],
        to: StatusCode,
        *,
        ttl: int = 0,
        fields: dict[str, str] | None = None,
        result: bytes = b"",
        cache_key: str | None = None,
        cache_ttl: int = 0,
        delete: Sequence[str] = (),
        end: TaskEnd | None = None,
    ) -> str | None:
        """The step as one Lua call (shared with the steps asked for meanwhile); the status
        the job had before it, None if refused. With `end`, the call also does arq's
        bookkeeping of the task that ends here."""
        outcome = await self._moves(_Move(
            job_id, _states(allowed), to.value, ttl,
            [x for kv in (fields or {}).items() for x in kv], result, cache_key, cache_ttl,
            delete, end))
        if end is not None:
            end.done = True
        if isinstance(outcome, bytes) and outcome.startswith(b"OK:"):
            return outcome[3:].decode()
        return None

    async def _send_moves(self, batch: Sequence[_Move]) -> list[Any]:
        keys: list[str] = [self.keys.stats]
        args: list[Any] = [now_iso(), _now_ms(), self.keys.events, STATS_TTL,
                           EVENT_RESULT_BYTES, len(batch)]
        for step in batch:
            job_key, end = self.keys.job(step.job_id), step.end
            keys += [job_key, self.keys.result(step.job_id), step.cache_key or job_key,
                     *step.delete]
            if end is not None:
                keys += [end.queue, ABORT_JOBS_SS, *end.keys]
            args += [step.allowed, step.to, step.ttl, step.job_id, step.result, step.cache_ttl,
                     end.task_id if end else "", len(step.delete), len(step.pairs) // 2,
                     *step.pairs]
        outcomes: list[Any] = await run_replicated(self.redis, self._transition, keys, args,
                                                   self.min_replicas, strict=False)
        return outcomes

    async def begin(self, job_id: str, ttl: int = 0) -> JobRecord | None:
        """Mark the job running (if it is accepted or running) and read it, in one call
        (shared with the starts asked for meanwhile); `ttl` extends the record for
        processes with a longer time limit than the default."""
        return self.started(job_id, await self._starts(_Start(job_id, ttl or self.active_ttl)))

    @staticmethod
    def started(job_id: str, raw: list[Any]) -> JobRecord | None:
        """The record a start left (`begin`, or a worker's claim: `claim_starts`); None
        when it is gone."""
        if not raw:
            return None
        return JobRecord.from_hash(job_id, dict(zip(raw[::2], raw[1::2], strict=True)))

    def claim_starts(self, function: str, max_tries: int, ttl: int = 0) -> ClaimStarts:
        """What a worker's claim needs to start the jobs of the tasks it takes (the same
        step as `begin`, see `ClaimStarts`)."""
        return ClaimStarts(function, max_tries, self.keys.job(""), ttl or self.active_ttl,
                           self.keys.stats, self.keys.events,
                           self.keys.queued("") if self.queue_cap else "")

    async def _send_starts(self, batch: Sequence[_Start]) -> list[Any]:
        counters = self.keys.queued("") if self.queue_cap else ""
        args: list[Any] = [now_iso(), self.keys.events, counters, _now_ms()]
        for start in batch:
            args += [start.job_id, start.ttl]
        records: list[Any] = await self._begin(
            keys=[self.keys.stats, *(self.keys.job(start.job_id) for start in batch)],
            args=args)
        return records

    async def count_dropped(self, queue: str, reason: str) -> None:
        """Count a task a worker dropped unrun from `queue`
        (`fastproc_queue_messages_dropped_total`)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(self.keys.stats, f"dropped|{queue}|{reason}", 1)
            pipe.expire(self.keys.stats, STATS_TTL)  # this may have created the hash
            await pipe.execute()

    async def release(self, process_id: str) -> None:
        """Give back the place of a job that never started (dismissed, or never created)."""
        await self._release(keys=[self.keys.queued(process_id)])

    async def complete(
        self, job_id: str, result: EncodedResult, *, cache_key: str | None = None,
        cache_ttl: int = 0, fanned_out: bool = False, end: TaskEnd | None = None,
        run_facts: str | None = None,
    ) -> bool:
        """Store the result and mark the job successful. Outputs stored apart are written
        first and removed again if the job had ended (been dismissed) meanwhile."""
        if result.apart:
            cache_key = None  # large binary results are not cached
            async with self.redis.pipeline(transaction=False) as pipe:
                for name, data in result.apart.items():
                    pipe.set(self.keys.output(job_id, name), data, ex=self.job_ttl)
                await pipe.execute()
        done = await self._move(
            job_id, _ACTIVE, StatusCode.SUCCESSFUL, ttl=self.job_ttl, result=result.document,
            cache_key=cache_key, cache_ttl=cache_ttl,
            fields={"finished": now_iso(), "progress": "100", "message": "finished",
                    **({RUN_FACTS: run_facts} if run_facts else {})},
            delete=self._join_keys(job_id) if fanned_out else (), end=end,
        )
        if done is None and result.apart:
            await self.redis.delete(*(self.keys.output(job_id, n) for n in result.apart))
        return done is not None

    async def load_output(self, job_id: str, name: str) -> bytes | None:
        data: bytes | None = await self.redis.get(self.keys.output(job_id, name))
        return data

    async def output_size(self, job_id: str, name: str) -> int:
        size: int = await self.redis.strlen(self.keys.output(job_id, name))
        return size

    async def stream_output(self, job_id: str, name: str, size: int,
                            chunk: int = 1024 * 1024) -> AsyncIterator[bytes]:
        """An output stored apart, in chunks (GETRANGE): the API never holds all of it."""
        key = self.keys.output(job_id, name)
        for start in range(0, size, chunk):
            part: bytes = await self.redis.getrange(key, start, min(size, start + chunk) - 1)
            if not part:
                raise LookupError(f"output '{name}' of job {job_id} is gone")
            yield part

    async def dismiss_finished(self, job_id: str) -> bool:
        """successful|failed -> dismissed, removing the results (and outputs stored apart)
        and the error: the record stays, `dismissed`, like that of a job dismissed while
        it ran. A compare-and-set of its own rather than TRANSITION: the job was counted
        in the metrics when it ended, and dismissing it later must not count it again.
        False if the job is not (or no longer) finished."""
        key, result_key = self.keys.job(job_id), self.keys.result(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key, result_key)
                    status, progress = await pipe.hmget(key, ["status", "progress"])
                    if status is None or StatusCode(status.decode()) not in _FINISHED:
                        return False
                    outputs = self._outputs_apart(job_id, await pipe.get(result_key))
                    now = now_iso()
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(key, mapping={"status": StatusCode.DISMISSED.value,
                                            "message": "dismissed", "updated": now})
                    pipe.hdel(key, "error")
                    pipe.expire(key, self.job_ttl)
                    pipe.delete(result_key, *outputs)
                    pipe.publish(self.keys.events, orjson.dumps({
                        "jobID": job_id, "status": StatusCode.DISMISSED.value,
                        "message": "dismissed", "updated": now,
                        **({"progress": int(float(progress))} if progress else {})}))
                    await pipe.execute()
                    return True
                except WatchError:
                    continue  # the record changed meanwhile: look again

    def _outputs_apart(self, job_id: str, blob: bytes | None) -> list[str]:
        stored = decode_results(blob) if blob else {}
        return [self.keys.output(job_id, name) for name, out in stored.items() if is_apart(out)]

    async def fail(self, job_id: str, error: dict[str, Any], *,
                   end: TaskEnd | None = None, run_facts: str | None = None) -> bool:
        before = await self._move(
            job_id, _ACTIVE, StatusCode.FAILED, ttl=self.job_ttl,
            fields={"finished": now_iso(), "message": str(error.get("detail", "failed")),
                    "error": orjson.dumps(error).decode(),
                    **({RUN_FACTS: run_facts} if run_facts else {})},
            delete=self._join_keys(job_id), end=end,
        )
        return before is not None

    async def stop(self, job_id: str, process_id: str) -> bool:
        """created|accepted|running -> dismissed, dropping results and join state in the
        same step.
        A job dismissed while still accepted gives its queue place back (a worker's begin
        does that for started jobs, so a place is never given back twice)."""
        before = await self._move(
            job_id, (StatusCode.CREATED, *_ACTIVE), StatusCode.DISMISSED, ttl=self.job_ttl,
            fields={"finished": now_iso(), "message": "dismissed"},
            delete=[self.keys.result(job_id), *self._join_keys(job_id)],
        )
        if before == StatusCode.ACCEPTED.value and self.queue_cap:
            await self.release(process_id)
        return before is not None

    async def report_progress(self, job_id: str, percent: int, message: str | None) -> bool:
        outcome = await self._progress(
            keys=[self.keys.job(job_id)],
            args=[percent, message or "", now_iso(), self.keys.events, job_id],
        )
        return bool(outcome == b"OK")

    async def drop_logs(self, job_id: str) -> None:
        """Delete what a job's process logged and its trace (with the job's dismissal)."""
        await self.redis.delete(self.keys.job_logs(job_id), self.keys.job_trace(job_id))

    async def abort_tasks(self, task_ids: Sequence[str]) -> None:
        """Cancel these arq tasks (see `fastproc.wire.enqueue.abort_tasks`)."""
        await abort_tasks(self.redis, task_ids)

    def _join_keys(self, job_id: str) -> list[str]:
        """What a job's end drops: a fan-out's join state and a workflow's."""
        return [*self.join.all_keys(job_id), *self.keys.flow(job_id)]


def _pairs(mapping: dict[str, Any]) -> list[Any]:
    return [x for kv in mapping.items() for x in kv]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _score(iso: str) -> float:
    return parse_iso(iso).timestamp()
