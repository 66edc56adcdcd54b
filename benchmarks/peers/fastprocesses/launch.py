"""Start fastprocesses 0.24.1 against a Redis: one uvicorn process for the API and one Celery
worker with `--concurrency 2` (its main process plus two prefork children).

Standard library only, so fastproc's harness can import it under its own interpreter while
the peer itself runs from `.venv` (made by setup.sh). Also a script, to poke at the peer by
hand:

    benchmarks/peers/fastprocesses/setup.sh
    python benchmarks/peers/fastprocesses/launch.py redis://127.0.0.1:6379/0

Isolation: fastprocesses has no key prefix, but takes a database number for its Celery broker
and one for its Celery results and caches. `running()` picks the two highest databases that
are empty when it starts, and a fresh Celery queue name; on exit it empties those two
databases again (it filled them; they were empty before) and nothing else.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
VENV_PYTHON = HERE / ".venv" / "bin" / "python"
SETUP = HERE / "setup.sh"


@dataclass
class Peer:
    """A running fastprocesses: where it answers and the processes to measure."""

    url: str
    api: subprocess.Popen[bytes]
    worker: subprocess.Popen[bytes]
    broker_db: int
    results_db: int
    queue: str


def ensure_venv() -> Path:
    """Run setup.sh (idempotent) and return the peer's interpreter."""
    subprocess.run(["bash", str(SETUP)], check=True, stdout=subprocess.DEVNULL)
    return VENV_PYTHON


class _Resp:
    """Just enough RESP to choose empty databases and empty them again afterwards."""

    def __init__(self, host: str, port: int, password: str | None) -> None:
        self.sock = socket.create_connection((host, port), timeout=5)
        self.file = self.sock.makefile("rb")
        if password:
            self.call("AUTH", password)

    def call(self, *args: str | int) -> object:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        return self._read()

    def _read(self) -> object:
        line = self.file.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self.file.read(size + 2)[:-2]
            return data.decode()
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._read() for _ in range(size)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _databases(r: _Resp) -> int:
    try:
        reply = r.call("CONFIG", "GET", "databases")
        assert isinstance(reply, list)
        return int(reply[1])
    except (RuntimeError, IndexError, AssertionError, ValueError):
        return 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    """One sync echo end to end: the API is up and the worker consumes the queue."""
    body = json.dumps({"inputs": {"value": f"ready-{uuid.uuid4().hex[:8]}"}}).encode()
    request = urllib.request.Request(
        f"{url}/processes/echo/execution", data=body, method="POST",
        headers={"Content-Type": "application/json", "Prefer": "respond-sync"})
    try:
        with urllib.request.urlopen(request, timeout=15) as reply:
            return bool(reply.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _stop(child: subprocess.Popen[bytes], timeout: float = 15) -> None:
    """SIGTERM (Celery: warm shutdown), then SIGKILL the child's own process group."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)  # prefork children of a killed Celery worker


@contextmanager
def running(redis_url: str, *, concurrency: int = 2, logs: Path | None = None,
            python: Path | None = None, ready_timeout: float = 90) -> Iterator[Peer]:
    """The API and the Celery worker on `redis_url`'s server, until the block ends."""
    parts = urlsplit(redis_url)
    if parts.scheme not in ("redis", "") or not parts.hostname:
        raise ValueError(f"fastprocesses needs a redis://host:port URL, not {redis_url!r}")
    host, port = parts.hostname, parts.port or 6379
    password = unquote(parts.password) if parts.password else None
    own_db = int(parts.path.strip("/") or 0)
    python = python or ensure_venv()

    r = _Resp(host, port, password)
    free = []
    for db in range(_databases(r) - 1, -1, -1):
        if db != own_db:
            r.call("SELECT", db)
            if r.call("DBSIZE") == 0:
                free.append(db)
        if len(free) == 2:
            break
    if len(free) < 2:
        r.close()
        raise RuntimeError(f"fastprocesses needs two empty databases on {host}:{port}")
    broker_db, results_db = free

    tag = uuid.uuid4().hex[:6]
    queue = f"bench-{tag}"
    workdir = Path(tempfile.mkdtemp(prefix=f"fastprocesses-{tag}-"))  # loguru writes logs/ here
    logs = logs or workdir
    env = {
        **os.environ,
        "PYTHONPATH": str(HERE),
        "FP_CELERY_BROKER_HOST": host, "FP_CELERY_BROKER_PORT": str(port),
        "FP_CELERY_BROKER_DB": str(broker_db), "FP_CELERY_BROKER_PASSWORD": password or "",
        "FP_CELERY_RESULT_HOST": host, "FP_CELERY_RESULT_PORT": str(port),
        "FP_CELERY_RESULT_DB": str(results_db), "FP_CELERY_RESULT_PASSWORD": password or "",
        "FP_RESULT_CACHE_HOST": host, "FP_RESULT_CACHE_PORT": str(port),
        "FP_RESULT_CACHE_DB": str(results_db), "FP_RESULT_CACHE_PASSWORD": password or "",
        "FP_CELERY_QUEUE": queue,
        "FP_LOG_LEVEL": "WARNING",
    }
    for name in ("VIRTUAL_ENV", "PYTHONHOME"):
        env.pop(name, None)
    api_port = _free_port()
    url = f"http://127.0.0.1:{api_port}"

    with ExitStack() as cleanup:
        @cleanup.callback
        def _empty_our_databases() -> None:
            for db in (broker_db, results_db):
                r.call("SELECT", db)
                r.call("FLUSHDB")
            r.close()

        def spawn(args: list[str], name: str) -> subprocess.Popen[bytes]:
            log = cleanup.enter_context((logs / f"fastprocesses-{tag}-{name}.log").open("wb"))
            child = subprocess.Popen([str(python), "-m", *args], cwd=workdir, env=env,
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
            cleanup.callback(_stop, child)
            return child

        worker = spawn(["celery", "-A", "processes:celery_app", "worker",
                        "--concurrency", str(concurrency), "--pool", "prefork",
                        "-Q", queue, "-n", f"{queue}@%h", "--loglevel", "WARNING"], "worker")
        api = spawn(["uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(api_port),
                     "--workers", "1", "--loop", "uvloop", "--http", "httptools",
                     "--log-level", "warning", "--no-access-log"], "api")
        deadline = time.monotonic() + ready_timeout
        while not _answers(url):
            for child, name in ((api, "API"), (worker, "Celery worker")):
                if child.poll() is not None:
                    raise RuntimeError(f"the fastprocesses {name} exited; see {logs}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"fastprocesses did not answer within {ready_timeout} s")
            time.sleep(0.2)
        yield Peer(url, api, worker, broker_db, results_db, queue)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("redis_url")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    with running(args.redis_url, concurrency=args.concurrency) as peer:
        print(f"fastprocesses on {peer.url} (API pid {peer.api.pid}, Celery worker pid "
              f"{peer.worker.pid}, databases {peer.broker_db} and {peer.results_db}); "
              "Ctrl-C stops it", flush=True)
        try:
            while peer.api.poll() is None and peer.worker.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
