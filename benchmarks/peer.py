"""A competitor run side by side with fastproc (`python -m benchmarks --compare fastprocesses`):
its stack, measured like fastproc's.

The peer runs from its own virtualenv (benchmarks/peers/<name>/setup.sh); this module only
starts it, reads its processes' CPU seconds and peak RSS from /proc, and pauses its worker
for the cost run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from benchmarks import scenarios
from benchmarks.peers.fastprocesses import launch
from benchmarks.stack import Usage, children, pause, tree_cpu, usage

PEERS = ("fastprocesses",)
_TICKS = os.sysconf("SC_CLK_TCK")


def tree_usage(pid: int) -> Usage:
    """CPU seconds of a process, its live descendants and its reaped children; the sum of
    their peak RSS (each counts the pages it shares with the others, like `ps` does)."""
    peak = usage(pid).peak_rss_mb
    for child in children(pid):
        try:
            peak += usage(child).peak_rss_mb
        except (OSError, IndexError):
            continue
    return Usage(tree_cpu(pid), peak)


@dataclass
class PeerStack:
    """A running peer with what `benchmarks.__main__` measures of fastproc's `Stack`."""

    name: str
    url: str
    redis_url: str
    api_pid: int
    worker_pid: int
    worker_processes: int

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def usage(self) -> dict[str, Usage]:
        return {"api": usage(self.api_pid), "worker": tree_usage(self.worker_pid)}

    def cpu(self) -> dict[str, float]:
        return {"api": tree_cpu(self.api_pid), "worker": tree_cpu(self.worker_pid)}

    def pause_workers(self, paused: bool) -> None:
        pause([self.worker_pid], paused)

    def target(self, **options: object) -> scenarios.Target:
        # No event channel to listen to: every wait polls, as for any other server.
        return scenarios.Target(self.url, **options)  # type: ignore[arg-type]


@contextmanager
def peer_stack(name: str, redis_url: str, *, worker_processes: int = 2,
               logs: Path | None = None) -> Iterator[PeerStack]:
    """The peer's API (one uvicorn process) and worker (one Celery worker with
    `worker_processes` prefork processes)."""
    if name != "fastprocesses":
        raise ValueError(f"unknown peer {name!r}; known: {', '.join(PEERS)}")
    with launch.running(redis_url, concurrency=worker_processes, logs=logs) as peer:
        yield PeerStack(name, peer.url, redis_url, peer.api.pid, peer.worker.pid,
                        worker_processes)
