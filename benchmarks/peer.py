"""A competitor run side by side with fastproc (`python -m benchmarks --compare fastprocesses`):
its stack, measured like fastproc's, and the table of ratios.

The peer runs from its own virtualenv (benchmarks/peers/<name>/setup.sh); this module only
starts it, reads its processes' CPU seconds and peak RSS from /proc, and compares.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table

from benchmarks import scenarios
from benchmarks.measure import Result
from benchmarks.peers.fastprocesses import launch
from benchmarks.stack import Usage, usage

PEERS = ("fastprocesses",)
_TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    """Live child processes of `pid`, and theirs (Celery's prefork pool)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            child = int(entry.name)
            found += [child, *_children(child)]
    return found


def tree_usage(pid: int) -> Usage:
    """CPU seconds of a process, its live descendants and its reaped children; the sum of
    their peak RSS (each counts the pages it shares with the others, like `ps` does)."""
    own = usage(pid)
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = own.cpu_seconds + (int(fields[13]) + int(fields[14])) / _TICKS
    peak = own.peak_rss_mb
    for child in _children(pid):
        try:
            use = usage(child)
        except (OSError, IndexError):
            continue
        cpu += use.cpu_seconds
        peak += use.peak_rss_mb
    return Usage(cpu, peak)


@dataclass
class PeerStack:
    """A running peer with what `benchmarks.__main__` measures of fastproc's `Stack`."""

    name: str
    url: str
    redis_url: str
    api_pid: int
    worker_pid: int

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def usage(self) -> dict[str, Usage]:
        return {"api": usage(self.api_pid), "worker": tree_usage(self.worker_pid)}

    def target(self) -> scenarios.Target:
        # fastprocesses runs a job synchronously only when asked with `Prefer: respond-sync`
        # (a `"mode": "sync"` in the body is ignored); it has no event channel to listen to.
        return scenarios.Target(self.url, sync_headers={"Prefer": "respond-sync"})


@contextmanager
def peer_stack(name: str, redis_url: str, *, logs: Path | None = None) -> Iterator[PeerStack]:
    """The peer's API (one uvicorn process) and worker (Celery, two prefork processes)."""
    if name != "fastprocesses":
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    with launch.running(redis_url, concurrency=2, logs=logs) as peer:
        yield PeerStack(name, peer.url, redis_url, peer.api.pid, peer.worker.pid)


def _total(result: Result, suffix: str) -> float | None:
    values = [v for k, v in result.extra.items() if k.endswith(suffix)]
    return float(sum(values)) if values else None


@dataclass
class Side:
    """One server's figures for one scenario."""

    rate: float
    p50_ms: float | None
    cpu_ms_per_unit: float | None
    rss_mb: float | None
    redis_cmds_per_job: float | None
    errors: int

    @classmethod
    def of(cls, r: Result) -> Side:
        cpu = _total(r, "_cpu_s")
        return cls(r.rate, r.percentile(50),
                   cpu * 1000 / r.count if cpu is not None and r.count else None,
                   _total(r, "_peak_rss_mb"), r.extra.get("redis_cmds_per_job"), r.errors)


@dataclass
class Row:
    scenario: str
    unit: str
    fastproc: Side
    peer: Side

    def ratios(self) -> dict[str, float | None]:
        """fastproc / peer: above 1 is better for rate, below 1 for latency and memory."""
        def ratio(a: float | None, b: float | None) -> float | None:
            return None if a is None or not b else round(a / b, 2)

        return {"rate": ratio(self.fastproc.rate, self.peer.rate),
                "p50": ratio(self.fastproc.p50_ms, self.peer.p50_ms),
                "rss": ratio(self.fastproc.rss_mb, self.peer.rss_mb)}


def comparison(ours: list[Result], theirs: list[Result]) -> list[Row]:
    """One row per scenario both servers ran."""
    by_name = {r.scenario: r for r in theirs}
    return [Row(a.scenario, a.unit, Side.of(a), Side.of(by_name[a.scenario]))
            for a in ours if a.scenario in by_name]


def _n(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_comparison(rows: list[Row], peer: str, meta: dict[str, object]) -> None:
    title = ", ".join(f"{k}={v}" for k, v in meta.items())
    table = Table(title=f"fastproc / {peer} ({title})")
    columns = ("scenario", "fastproc", peer, "rate ratio", "p50 ms fastproc",
               f"p50 ms {peer}", "p50 ratio", "CPU ms/unit fastproc", f"CPU ms/unit {peer}",
               "RSS MB fastproc", f"RSS MB {peer}", "RSS ratio", "Redis cmds/job fastproc",
               f"Redis cmds/job {peer}", "errors")
    for column in columns:
        table.add_column(column, justify="left" if column == "scenario" else "right",
                         no_wrap=column == "scenario")
    for row in rows:
        a, b, ratios = row.fastproc, row.peer, row.ratios()
        table.add_row(
            row.scenario, f"{_n(a.rate)} {row.unit}/s", f"{_n(b.rate)} {row.unit}/s",
            _n(ratios["rate"], 2), _n(a.p50_ms, 2), _n(b.p50_ms, 2), _n(ratios["p50"], 2),
            _n(a.cpu_ms_per_unit, 2), _n(b.cpu_ms_per_unit, 2), _n(a.rss_mb, 0),
            _n(b.rss_mb, 0), _n(ratios["rss"], 2), _n(a.redis_cmds_per_job),
            _n(b.redis_cmds_per_job), f"{a.errors} / {b.errors}")
    Console(width=240).print(table)
