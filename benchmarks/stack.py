"""Starting what is measured: Valkey (embedded or given), the API under uvicorn, N workers.

Each part is its own OS process so its CPU seconds and peak RSS can be read from /proc, and
so the workers can be paused (SIGSTOP) while the API alone is measured.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from fastproc.embedded import embedded_valkey

ROOT = Path(__file__).resolve().parent.parent
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(slots=True)
class Usage:
    cpu_seconds: float
    peak_rss_mb: float


def usage(pid: int) -> Usage:
    """CPU seconds (user + system) and peak RSS of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / _TICKS
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return Usage(cpu, peak)


def children(pid: int) -> list[int]:
    """Live descendants of `pid` (Celery's prefork pool, say)."""
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
            found += [child, *children(child)]
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live descendants and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / _TICKS
    for child in children(pid):
        with contextlib.suppress(OSError, IndexError):
            cpu += usage(child).cpu_seconds
    return cpu


def pause(pids: list[int], paused: bool) -> None:
    """SIGSTOP (or SIGCONT) these processes and their descendants: a paused worker takes no
    job, so what the API does per submission can be measured on its own."""
    sig = signal.SIGSTOP if paused else signal.SIGCONT
    for pid in pids:
        for target in (pid, *children(pid)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, sig)


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Stack:
    """A running fastproc: its URL, its Redis and the processes to measure."""

    url: str
    redis_url: str
    prefix: str
    api: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    spawn_worker: Callable[[str], subprocess.Popen[bytes]] | None = None

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def usage(self) -> dict[str, Usage]:
        out: dict[str, Usage] = {}
        if self.api is not None:
            out["api"] = usage(self.api.pid)
        for i, worker in enumerate(self.workers):
            out[f"worker{i}"] = usage(worker.pid)
        return out

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of the API and of all workers together."""
        out = {"worker": sum(tree_cpu(worker.pid) for worker in self.workers)}
        if self.api is not None:
            out["api"] = tree_cpu(self.api.pid)
        return out

    def pause_workers(self, paused: bool) -> None:
        pause([worker.pid for worker in self.workers], paused)


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
    else:
        with embedded_valkey() as embedded:
            yield embedded


@contextmanager
def fastproc_stack(redis_url: str, *, workers: int = 1, env: dict[str, str] | None = None,
                   logs: Path | None = None, counted: Path | None = None,
                   api_processes: int = 1) -> Iterator[Stack]:
    """API + workers on `redis_url` under a fresh key prefix (removed afterwards). With
    `counted`, each process counts its Redis round trips into `counted/<name>.json`
    (`benchmarks.roundtrips`). `api_processes` > 1 runs the API as that many uvicorn worker
    processes on one port (`fastproc serve --workers`); their CPU is counted together."""
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    port = free_port()
    child_env = {
        **os.environ,
        "FASTPROC_REDIS_URL": redis_url,
        "FASTPROC_KEY_PREFIX": prefix,
        "FASTPROC_QUEUE_NAME": f"{prefix}:queue",
        "FASTPROC_LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    logs = logs or Path("/tmp")
    stack = Stack(url=f"http://127.0.0.1:{port}", redis_url=redis_url, prefix=prefix)
    r = stack.redis()
    with ExitStack() as cleanup:
        def spawn(args: list[str], name: str) -> subprocess.Popen[bytes]:
            log = cleanup.enter_context((logs / f"{prefix}-{name}.log").open("wb"))
            module, own_env = "fastproc", child_env
            if counted is not None:
                module = "benchmarks.roundtrips"
                own_env = {**child_env, "BENCH_ROUND_TRIPS_FILE": str(counted / f"{name}.json")}
            child = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT,
                                     env=own_env, stdout=log, stderr=subprocess.STDOUT)
            cleanup.callback(_stop, child)
            return child

        stack.spawn_worker = lambda name: spawn(["worker"], name)
        for i in range(workers):
            stack.workers.append(spawn(["worker"], f"worker{i}"))
        wait_until(lambda: r.exists(f"{prefix}:processes"), 30, "workers")
        stack.api = spawn(["serve", "--port", str(port), "--workers", str(api_processes)],
                          "api")
        wait_until(lambda: answers(port), 30, "the API")
        try:
            yield stack
        finally:
            for key in r.scan_iter(match=f"{prefix}*", count=1000):
                r.delete(key)


def answers(port: int) -> bool:
    """Whether something accepts connections on this loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
