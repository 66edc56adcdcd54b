"""Starting what is measured: Valkey (embedded or given), the API under uvicorn, N workers.

Each part is its own OS process so its CPU seconds and peak RSS can be read from /proc.
"""

from __future__ import annotations

import os
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


@contextmanager
def redis_server(url: str | None) -> Iterator[str]:
    if url:
        yield url
    else:
        with embedded_valkey() as embedded:
            yield embedded


@contextmanager
def fastproc_stack(redis_url: str, *, workers: int = 1, env: dict[str, str] | None = None,
                   logs: Path | None = None) -> Iterator[Stack]:
    """API + workers on `redis_url` under a fresh key prefix (removed afterwards)."""
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
            child = subprocess.Popen([sys.executable, "-m", "fastproc", *args], cwd=ROOT,
                                     env=child_env, stdout=log, stderr=subprocess.STDOUT)
            cleanup.callback(_stop, child)
            return child

        stack.spawn_worker = lambda name: spawn(["worker"], name)
        for i in range(workers):
            stack.workers.append(spawn(["worker"], f"worker{i}"))
        wait_until(lambda: r.exists(f"{prefix}:processes"), 30, "workers")
        stack.api = spawn(["serve", "--port", str(port)], "api")
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
