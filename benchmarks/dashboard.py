"""`python -m benchmarks.dashboard`: what open dashboards cost Redis.

Starts an embedded Valkey (or uses `--redis`), the API and one idle worker, then holds 0, 1
and 20 dashboards open (`/dashboard/events`, each its own connection, reading every event)
for `--window` seconds each and counts the commands Valkey executed in that window
(`INFO commandstats`, the harness's own `INFO` left out). The idle stack's own commands
(the worker's polls and heartbeats) are the 0-viewer figure; what the dashboards add is
the rest. They share one reading per API process every FASTPROC_DASHBOARD_INTERVAL, so 20
viewers should cost what one does: the figures printed are commands per second in all,
above the idle stack, and above it per viewer, with the readings each viewer received.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from benchmarks.meter import ServerStats
from benchmarks.stack import fastproc_stack, redis_server

VIEWERS = (0, 1, 20)


@dataclass
class Window:
    viewers: int
    seconds: float
    commands: Counter[str]
    #: Readings (events) each viewer received in the window.
    readings: list[int]

    @property
    def per_second(self) -> float:
        return sum(self.commands.values()) / self.seconds


def _calls(stats: ServerStats) -> Counter[str]:
    sample = stats.sample()
    return Counter({k.removeprefix("cmd."): int(v) for k, v in sample.items()
                    if k.startswith("cmd.")})


async def _watch(url: str, counts: list[int], index: int, ready: asyncio.Event,
                 started: list[int]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=None) as client, \
            client.stream("GET", "/dashboard/events") as stream:
        async for line in stream.aiter_lines():
            if line.startswith("event: dashboard"):
                counts[index] += 1
                if counts[index] == 1:
                    started[0] += 1
                    if started[0] == len(counts):
                        ready.set()


async def _window(url: str, stats: ServerStats, viewers: int, seconds: float) -> Window:
    counts = [0] * viewers
    ready = asyncio.Event()
    started = [0]
    tasks = [asyncio.create_task(_watch(url, counts, i, ready, started))
             for i in range(viewers)]
    try:
        if viewers:
            await asyncio.wait_for(ready.wait(), 30)  # every viewer has had a reading
        else:
            await asyncio.sleep(1)
        before, seen = _calls(stats), list(counts)
        opened = time.monotonic()
        await asyncio.sleep(seconds)
        after, elapsed = _calls(stats), time.monotonic() - opened
        readings = [n - m for n, m in zip(counts, seen, strict=True)]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(3)  # the feed stops once the last viewer has gone
    return Window(viewers, elapsed, after - before, readings)


def _report(windows: list[Window]) -> None:
    idle = windows[0].per_second
    print(f"{'viewers':>7} {'cmds/s':>8} {'above idle':>11} {'per viewer':>11} "
          f"{'readings/viewer':>16}  commands above idle (per s)")
    for w in windows:
        extra = w.per_second - idle
        per_viewer = f"{extra / w.viewers:.2f}" if w.viewers else "-"
        readings = f"{min(w.readings)}-{max(w.readings)}" if w.readings else "-"
        above = w.commands - windows[0].commands
        top = ", ".join(f"{name} {n / w.seconds:.2f}" for name, n in above.most_common(6))
        print(f"{w.viewers:>7} {w.per_second:>8.2f} {extra:>11.2f} {per_viewer:>11} "
              f"{readings:>16}  {top if w.viewers else ''}")


async def _run(url: str, redis_url: str, seconds: float) -> list[Window]:
    stats = ServerStats(redis_url)
    try:
        # Let the stack settle (catalogue reports, the first polls) before measuring.
        async with httpx.AsyncClient(base_url=url) as client:
            (await client.get("/dashboard", params={"f": "json"})).raise_for_status()
        await asyncio.sleep(3)
        return [await _window(url, stats, n, seconds) for n in VIEWERS]
    finally:
        stats.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=20.0,
                        help="seconds each number of viewers is measured (default 20)")
    parser.add_argument("--redis", default=None, help="a Redis URL (default: embedded)")
    args = parser.parse_args(argv)
    # Every viewer comes from this one address: one caller to the stream caps.
    env: dict[str, Any] = {"FASTPROC_PROCESSES": "workers.examples",
                           "FASTPROC_DASHBOARD_STREAMS_PER_CALLER": str(max(VIEWERS))}
    with redis_server(args.redis) as redis_url, fastproc_stack(redis_url, env=env) as stack:
        windows = asyncio.run(_run(stack.url, redis_url, args.window))
    _report(windows)


if __name__ == "__main__":
    main()
