"""The dashboard's feed: one reading of Redis every few seconds per API process, shared by
every open dashboard, and only while one is open.

The first viewer starts the sampling task and the last one to leave stops it, so an API
nobody watches reads nothing, and twenty viewers cost what one does: each reading is handed
to every viewer's queue (which holds only the newest, a slow viewer skips readings), and
each page fragment is rendered once per reading and audience, not once per viewer.
A request for the JSON gets the last reading if it is fresh, else one made for it.
Each open stream holds a connection for as long as its viewer stays, so `StreamSlots` caps
them per caller and in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

from loguru import logger
from redis.exceptions import RedisError

from fastproc.api.insights.figures import CacheRate, Figures, View
from fastproc.ogc.exceptions import TooManyStreams

#: How far back the cache hit rate looks, when the feed has readings that old.
CACHE_WINDOW_SECONDS = 5 * 60
#: Page fragments kept: one per audience and base URL lately in use. Without
#: FASTPROC_BASE_URL the base comes from the caller's Host header (any port of a trusted
#: name passes), so one kept per name would grow with every name a caller invents.
RENDERS_KEPT = 8
#: Seconds between the comment lines that keep idle proxies from closing a stream; a
#: stream whose viewer vanished without closing it is noticed at the next one.
KEEPALIVE = 15.0

Read = Callable[[Callable[[int, int, int], CacheRate]], Awaitable[Figures]]


class Render(Protocol):
    def __call__(self, figures: Figures, *, view: View, base: str) -> str: ...


def _offer(queue: asyncio.Queue[Figures], figures: Figures) -> None:
    """Keep only the newest reading in a viewer's queue."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(figures)


class CacheHistory:
    """Cumulative cache hits and fresh submissions at each reading, so the hit rate can
    be given over the last minutes rather than since the counters began."""

    def __init__(self) -> None:
        self._seen: deque[tuple[int, int, int]] = deque()

    def rate(self, at_ms: int, hits: int, submitted: int) -> CacheRate:
        self._seen.append((at_ms, hits, submitted))
        while len(self._seen) > 1 and at_ms - self._seen[1][0] >= CACHE_WINDOW_SECONDS * 1000:
            self._seen.popleft()
        first_ms, first_hits, first_submitted = self._seen[0]
        new_hits, new_submitted = hits - first_hits, submitted - first_submitted
        if first_ms < at_ms and new_hits >= 0 and new_submitted >= 0 and \
                new_hits + new_submitted > 0:
            return CacheRate(new_hits / (new_hits + new_submitted), (at_ms - first_ms) / 1000)
        total = hits + submitted
        return CacheRate(hits / total if total else None, None)


class StreamSlots:
    """The dashboard streams open on this API process, by caller, within
    `FASTPROC_DASHBOARD_STREAMS_PER_CALLER` and `FASTPROC_DASHBOARD_STREAMS`."""

    def __init__(self, total: int, per_caller: int) -> None:
        self.total = total
        self.per_caller = per_caller
        self._open: Counter[str] = Counter()

    @property
    def open(self) -> int:
        return self._open.total()

    def take(self, caller: str) -> None:
        """A place for one more stream of `caller`, or `TooManyStreams` (429): retry once a
        vanished viewer's stream has been noticed (`KEEPALIVE`)."""
        retry = {"Retry-After": str(int(KEEPALIVE))}
        if self._open[caller] >= self.per_caller:
            raise TooManyStreams(
                f"this caller has {self.per_caller} live dashboards open, the most allowed "
                "per caller; close one or retry later", headers=retry)
        if self.open >= self.total:
            raise TooManyStreams(
                f"this server has {self.total} live dashboards open, the most allowed in "
                "all; retry later", headers=retry)
        self._open[caller] += 1

    def give_back(self, caller: str) -> None:
        self._open[caller] -= 1
        if self._open[caller] <= 0:
            del self._open[caller]


class DashboardFeed:
    def __init__(self, read: Read, interval: float) -> None:
        self._read = read
        self.interval = interval
        self.latest: Figures | None = None
        self._read_at = float("-inf")
        self._viewers: set[asyncio.Queue[Figures]] = set()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._history = CacheHistory()
        self._rendered: OrderedDict[tuple[View, str], tuple[int, str]] = OrderedDict()

    @property
    def viewers(self) -> int:
        return len(self._viewers)

    @property
    def renders(self) -> int:
        """Page fragments held (at most `RENDERS_KEPT`)."""
        return len(self._rendered)

    async def current(self) -> Figures:
        """The newest reading: the last one if it is fresh, else a new one."""
        async with self._lock:
            if self.latest is None or time.monotonic() - self._read_at >= self.interval:
                await self._read_now()
            assert self.latest is not None
            return self.latest

    async def _read_now(self) -> None:
        self.latest = await self._read(self._history.rate)
        self._read_at = time.monotonic()

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncIterator[asyncio.Queue[Figures]]:
        """A queue that receives every reading while the caller watches (the current one
        first, if there is a fresh one)."""
        queue: asyncio.Queue[Figures] = asyncio.Queue(maxsize=1)
        if self.latest is not None and time.monotonic() - self._read_at < self.interval:
            queue.put_nowait(self.latest)
        self._viewers.add(queue)
        if self._task is None:
            self._task = asyncio.create_task(self._sample_forever(), name="fastproc-dashboard")
        try:
            yield queue
        finally:
            self._viewers.discard(queue)
            if not self._viewers:
                await self.stop()

    def rendered(self, figures: Figures, render: Render, *, view: View, base: str) -> str:
        """`render(figures, view=, base=)`, a page fragment of this reading for this
        audience, rendered once for all its viewers."""
        key = (view, base)
        found = self._rendered.get(key)
        if found is None or found[0] != figures.at_ms:
            found = self._rendered[key] = (figures.at_ms, render(figures, view=view, base=base))
        self._rendered.move_to_end(key)
        if len(self._rendered) > RENDERS_KEPT:
            self._rendered.popitem(last=False)  # the least lately asked for
        return found[1]

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _sample_forever(self) -> None:
        while True:
            try:
                async with self._lock:
                    await self._read_now()
            except (RedisError, OSError) as exc:  # Redis away: the viewers keep the last
                logger.warning("the dashboard cannot read Redis ({})", exc)
            else:
                assert self.latest is not None
                for queue in self._viewers:
                    _offer(queue, self.latest)
            await asyncio.sleep(self.interval)
