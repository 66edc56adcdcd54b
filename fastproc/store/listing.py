"""Listing jobs: which indexes a filter reads, and walking them by position, never by rank.

Jobs are indexed by creation time in sorted sets per owner, and per owner and process (see
`Keys.job_index`), so a listing reads the caller's jobs of the asked processes, never the
other callers' jobs. Index members whose record has expired are pruned as a listing meets
them; that would shift every rank behind them, so a walk's position is a score (plus how
many members of that score it has read), and a page ends with a `Cursor`, the score and id
of its last job, from which the next page goes on: expiring records never make a live job
skip or repeat.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from redis.asyncio import Redis

from fastproc.ogc.models import StatusCode
from fastproc.store.record import JobRecord, parse_iso
from fastproc.wire.keys import Keys


@dataclass(frozen=True, slots=True)
class JobFilter:
    process_ids: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    min_duration: float | None = None
    max_duration: float | None = None
    created_after: float | None = None
    created_before: float | None = None
    owner: str | None = None

    def indexes(self, keys: Keys) -> list[str]:
        """The indexes holding every job this filter can select, and (almost) only those:
        status and duration are checked on the records (see `matches`)."""
        if self.process_ids:
            return [keys.job_index(self.owner, pid) for pid in sorted(self.process_ids)]
        return [keys.job_index(self.owner)]

    def matches(self, record: JobRecord) -> bool:
        if self.owner is not None and record.owner != self.owner:
            return False
        if self.process_ids and record.process_id not in self.process_ids:
            return False
        if self.statuses and record.status.value not in self.statuses:
            return False
        # A job not yet started (Part 4) is listed only when asked for by its status: its
        # `created` is no status a Part 1 client knows (jobList.yaml's enum lacks it).
        if not self.statuses and record.status is StatusCode.CREATED:
            return False
        if self.created_after is not None or self.created_before is not None:
            created = parse_iso(record.created).timestamp() if record.created else None
            if not _within(created, self.created_after, self.created_before):
                return False
        return (self.min_duration is None and self.max_duration is None) or _within(
            record.duration, self.min_duration, self.max_duration)


def _within(value: float | None, low: float | None, high: float | None) -> bool:
    """Whether a value is known and inside the bounds that are given."""
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    """A place in a listing: the index score (creation time) and id of a job. Listings
    run newest first, i.e. by descending (score, id)."""

    score: float
    job_id: str

    def token(self) -> str:
        """The form a `next` or `prev` link carries (repr keeps the score exact)."""
        return f"{self.score!r}_{self.job_id}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        score, sep, job_id = token.partition("_")
        value = float(score)  # ValueError for a malformed token
        if not sep or not job_id or not math.isfinite(value):
            raise ValueError(f"not a listing cursor: {token!r}")
        return cls(value, job_id)


@dataclass(frozen=True, slots=True)
class JobPage:
    jobs: list[JobRecord]
    cursors: list[Cursor]
    #: More matching jobs follow the page in the direction it was read.
    more: bool


class IndexWalk:
    """One index's members in listing order, strictly past `start` and within the score
    bounds, read `batch` at a time (ZRANGE BYSCORE ... LIMIT)."""

    def __init__(self, redis: Redis, key: str, *, newest_first: bool, start: Cursor | None,
                 lowest: float | None, highest: float | None, batch: int) -> None:
        self.redis = redis
        self.key = key
        self.newest_first = newest_first
        self.start = start
        self.batch = batch
        near, far = (highest, lowest) if newest_first else (lowest, highest)
        if start is not None:
            near = start.score if near is None else _nearer(start.score, near, newest_first)
        self._at = near
        self._end = far
        self._skip = 0  # members of score `_at` already read
        self._buffer: deque[Cursor] = deque()
        self._done = False

    async def head(self) -> Cursor | None:
        while not self._buffer and not self._done:
            await self._read()
        return self._buffer[0] if self._buffer else None

    def pop(self) -> Cursor:
        return self._buffer.popleft()

    async def _read(self) -> None:
        near = repr(self._at) if self._at is not None else None
        far = repr(self._end) if self._end is not None else None
        rows: list[tuple[bytes, float]]
        if self.newest_first:
            rows = await self.redis.zrevrangebyscore(
                self.key, near or "+inf", far or "-inf", start=self._skip, num=self.batch,
                withscores=True)
        else:
            rows = await self.redis.zrangebyscore(
                self.key, near or "-inf", far or "+inf", start=self._skip, num=self.batch,
                withscores=True)
        self._done = len(rows) < self.batch
        if rows:
            last = rows[-1][1]
            same = sum(1 for _, score in rows if score == last)
            self._skip = same + (self._skip if last == self._at else 0)
            self._at = last
        for member, score in rows:
            item = Cursor(score, member.decode())
            if self.start is None or self._past_start(item):
                self._buffer.append(item)

    def _past_start(self, item: Cursor) -> bool:
        assert self.start is not None
        return item < self.start if self.newest_first else item > self.start


def _nearer(a: float, b: float, newest_first: bool) -> float:
    return min(a, b) if newest_first else max(a, b)


class MergedWalk:
    """Several index walks as one, in listing order (a job is in one process index only)."""

    def __init__(self, walks: list[IndexWalk], newest_first: bool) -> None:
        self.walks = walks
        self.newest_first = newest_first

    async def take(self, n: int) -> list[tuple[str, Cursor]]:
        """Up to `n` next members, each with the index it came from."""
        taken: list[tuple[str, Cursor]] = []
        while len(taken) < n:
            best: IndexWalk | None = None
            best_head: Cursor | None = None
            for walk in self.walks:
                head = await walk.head()
                if head is not None and (best_head is None or self._before(head, best_head)):
                    best, best_head = walk, head
            if best is None:
                break
            taken.append((best.key, best.pop()))
        return taken

    def _before(self, a: Cursor, b: Cursor) -> bool:
        return a > b if self.newest_first else a < b
