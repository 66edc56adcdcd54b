"""Measurement primitives: closed-loop load over a fixed window, latency percentiles, and
snapshots of what the server side spent (CPU seconds, Redis commands and round trips).

A closed loop counts the operations that *end* inside a fixed window after a warm-up, and
divides by the window: operations still running when the window closes are finished but not
counted, and do not stretch the window. (Counting every operation started in the window and
waiting for the last one to end, as this harness once did, adds about one latency to the
denominator: a few per cent for a server answering in 20 ms, tens of per cent for one that
takes seconds, which inflated the ratios against slow servers.)
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from benchmarks.http import Connection

#: A reading of counters that only grow (CPU seconds, commands, polls); keys are free-form.
Snapshot = dict[str, float]
Meter = Callable[[], Snapshot]


def no_meter() -> Snapshot:
    return {}


def difference(before: Snapshot, after: Snapshot) -> dict[str, float]:
    """How much each counter grew; one first seen in `after` grew from zero."""
    return {key: after[key] - before.get(key, 0.0) for key in after}


@dataclass
class Result:
    scenario: str
    unit: str
    count: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    #: What the meter's counters grew by over the measured window.
    spent: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        if len(self.latencies_ms) == 1:
            return self.latencies_ms[0]
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[int(q) - 1]

    def row(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latencies_ms")
        data["spent"] = {k: round(v, 4) for k, v in self.spent.items()}
        data.update(rate=round(self.rate, 1), p50_ms=_r(self.percentile(50)),
                    p95_ms=_r(self.percentile(95)), p99_ms=_r(self.percentile(99)))
        return data


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


Op = Callable[[Connection, int], Awaitable[bool]]


async def closed_loop(url: str, op: Op, *, concurrency: int, duration: float,
                      max_requests: int | None = None, warmup: float = 1.0,
                      meter: Meter = no_meter, drain_limit: float = 60.0) -> Result:
    """`concurrency` clients, each on its own keep-alive connection, run `op` back to back.

    The window opens (the meter is read) once `warmup` seconds have passed *and* every
    client has finished one operation, so a server that takes longer than the warm-up per
    operation is measured in its steady state too, not while the first operations are
    still in flight (at most `drain_limit` seconds of warm-up). After `duration` more the
    window closes (read again) and no client starts another operation. Counted: operations
    that ended inside the window. The ones still running are waited for (at most
    `drain_limit` seconds), so the next scenario starts on an idle server, but not counted."""
    latencies: list[float] = []
    errors = 0
    counter = 0
    edges: list[float] = []
    snapshots: list[Snapshot] = []
    warmed: set[int] = set()
    # The method this harness used before: operations *started* in the window, divided by
    # the time until the last of them ended. Kept as `extra["rate_started"]` for comparison.
    started_inside = 0
    last_end = 0.0
    all_warm = asyncio.Event()
    began = time.perf_counter()

    async def window() -> None:
        await asyncio.sleep(warmup)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_warm.wait(), drain_limit)
        edges.append(time.perf_counter())
        snapshots.append(meter())
        await asyncio.sleep(duration)
        snapshots.append(meter())
        edges.append(time.perf_counter())

    def inside(moment: float) -> bool:
        return len(edges) == 1 and moment >= edges[0]

    async def client(number: int) -> None:
        nonlocal errors, counter, started_inside, last_end
        conn = Connection.to(url)
        try:
            while len(edges) < 2:
                if max_requests is not None and counter >= max_requests:
                    return
                counter += 1
                start = time.perf_counter()
                counts_as_started = inside(start)
                try:
                    ok = await op(conn, counter)
                except (OSError, asyncio.IncompleteReadError, ValueError, KeyError):
                    ok = False  # a dropped connection or a garbled answer: an error
                    await conn.close()
                end = time.perf_counter()
                if counts_as_started:
                    started_inside += 1
                    last_end = max(last_end, end)
                warmed.add(number)
                if len(warmed) == concurrency:
                    all_warm.set()
                if inside(end):
                    if ok:
                        latencies.append((end - start) * 1000)
                    else:
                        errors += 1
        finally:
            await conn.close()

    timer = asyncio.create_task(window())
    clients = asyncio.gather(*(client(number) for number in range(concurrency)))
    await timer
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(clients, drain_limit)
    measured = edges[1] - edges[0]
    extra: dict[str, Any] = {"warmup_s": round(edges[0] - began, 1)}
    if last_end > edges[0]:
        extra["rate_started"] = round(started_inside / (last_end - edges[0]), 1)
    return Result("", "req", len(latencies), measured, latencies, errors, extra,
                  spent=difference(*snapshots))


def command_count(r: redis.Redis) -> int:
    """Commands the server has executed so far (INFO commandstats, minus INFO itself)."""
    stats: dict[str, Any] = r.info("commandstats")  # type: ignore[assignment]
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def reset_peak_rss(pid: int) -> None:
    """Start a fresh VmHWM window (Linux: writing 5 to clear_refs resets the peak)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass
