"""What a scenario cost the server side, read from outside the server: CPU seconds of the API,
the worker(s) and Valkey from /proc, and from the Redis server's `INFO` the commands it
executed and the reads it processed.

A read is one round trip: Valkey reads what a client sent in one go, so a pipeline or one
Lua call is one read however many commands it carries, and a client that waits for each
answer makes one read per command (`total_reads_processed` in `INFO stats`, checked: five
SETs in one pipeline are one read). The counter is server-wide, so per-process figures come
from pausing the other processes (see `scenarios.cost_run`). The harness's own `INFO` calls
are taken out of both counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis

from benchmarks.measure import Snapshot
from benchmarks.stack import tree_cpu


class ServerStats:
    """Counters of one Redis server: commands executed, reads processed, its CPU seconds."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.own_reads = 0
        self.pid = self._local_pid(url)
        self.sample()  # the connection's own set-up commands land before the first window

    def _local_pid(self, url: str) -> int | None:
        """The server's pid when it runs on this machine (its CPU is then read from /proc)."""
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            return None
        server: dict[str, Any] = self.client.info("server")  # type: ignore[assignment]
        pid = int(server.get("process_id", 0))
        return pid if pid and Path(f"/proc/{pid}/stat").exists() else None

    def sample(self) -> Snapshot:
        # One command, one read: INFO takes several sections.
        info: dict[str, Any] = self.client.execute_command(  # type: ignore[no-untyped-call]
            "INFO", "commandstats", "stats")
        self.own_reads += 1
        calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()
                 if k.startswith("cmdstat_") and k != "cmdstat_info"}
        out: Snapshot = {"redis.commands": float(sum(calls.values())),
                         "redis.round_trips": float(info["total_reads_processed"]
                                                    - self.own_reads)}
        out.update({f"cmd.{name}": float(n) for name, n in calls.items()})
        if self.pid is not None:
            out["cpu_s.valkey"] = tree_cpu(self.pid)
        return out

    def close(self) -> None:
        self.client.close()


@dataclass
class StackMeter:
    """The meter scenarios read at the edges of their windows: the server's processes (a
    callable giving part -> CPU seconds), the Redis server, the harness's own CPU and the
    status polls the client has made so far."""

    cpu: Callable[[], dict[str, float]]
    stats: ServerStats | None
    polls: Callable[[], int]
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> Snapshot:
        snap: Snapshot = {f"cpu_s.{part}": seconds for part, seconds in self.cpu().items()}
        snap["cpu_s.client"] = time.process_time()
        snap["polls"] = float(self.polls())
        if self.stats is not None:
            snap.update(self.stats.sample())
        return snap


#: Per-unit figures derived from what a window spent, in the order they are printed.
FIGURES = ("cpu_ms.api", "cpu_ms.worker", "cpu_ms.valkey", "cpu_ms.client", "cmds",
           "round_trips", "polls")


def per_unit(spent: dict[str, float], units: int) -> dict[str, float]:
    """What a window spent divided by the units (requests, jobs, parts) it completed."""
    if not units:
        return {}
    out: dict[str, float] = {}
    for key, value in spent.items():
        if key.startswith("cpu_s."):
            out["cpu_ms." + key.removeprefix("cpu_s.")] = value * 1000 / units
        elif key == "redis.commands":
            out["cmds"] = value / units
        elif key == "redis.round_trips":
            out["round_trips"] = value / units
        elif key == "polls":
            out["polls"] = value / units
    return out


def without_polls(figures: dict[str, float], poll_cost: dict[str, float]) -> dict[str, float]:
    """`figures` less what the status polls among them cost (`poll_cost`: the per-unit
    figures of the status poll scenario, one poll per unit). The client's CPU is left as is."""
    polls = figures.get("polls", 0.0)
    if not polls or not poll_cost:
        return dict(figures)
    out = dict(figures)
    for key in ("cpu_ms.api", "cpu_ms.worker", "cpu_ms.valkey", "cmds", "round_trips"):
        if key in out and key in poll_cost:
            out[key] = max(0.0, out[key] - polls * poll_cost[key])
    return out
