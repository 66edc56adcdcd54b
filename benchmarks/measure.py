"""Measurement primitives: closed-loop load, latency percentiles, Redis command counts."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from benchmarks.http import Connection


@dataclass
class Result:
    scenario: str
    unit: str
    count: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

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
        data.update(rate=round(self.rate, 1), p50_ms=_r(self.percentile(50)),
                    p95_ms=_r(self.percentile(95)), p99_ms=_r(self.percentile(99)))
        return data


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


Op = Callable[[Connection, int], Awaitable[bool]]


async def closed_loop(url: str, op: Op, *, concurrency: int, duration: float,
                      max_requests: int | None = None, warmup: float = 0.5) -> Result:
    """`concurrency` clients, each on its own keep-alive connection, run `op` back to back."""
    latencies: list[float] = []
    errors = 0
    counter = 0
    stop_at = time.perf_counter() + warmup + duration
    measure_from = time.perf_counter() + warmup

    async def client() -> None:
        nonlocal errors, counter
        conn = Connection.to(url)
        try:
            while time.perf_counter() < stop_at:
                if max_requests is not None and counter >= max_requests:
                    return
                counter += 1
                start = time.perf_counter()
                ok = await op(conn, counter)
                end = time.perf_counter()
                if start >= measure_from:
                    if ok:
                        latencies.append((end - start) * 1000)
                    else:
                        errors += 1
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    measured = max(1e-9, time.perf_counter() - measure_from)
    return Result("", "req", len(latencies), measured, latencies, errors)


def command_count(r: redis.Redis) -> int:
    """Commands the server has executed so far (INFO commandstats, minus INFO itself)."""
    stats: dict[str, Any] = r.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def reset_peak_rss(pid: int) -> None:
    """Start a fresh VmHWM window (Linux: writing 5 to clear_refs resets the peak)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass
