"""Starting the real parts for end-to-end tests: Valkey, API and worker processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.ogc import validate

ROOT = Path(__file__).resolve().parent.parent
#: Seconds a started worker or API has to come up: generous, for a machine under load.
STARTUP_WAIT = 90.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.02) -> Any:
    """Wait until `condition()` is truthy (it observes a real event), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def own_env(key_prefix: str, **settings: str) -> dict[str, str]:
    """FASTPROC_* variables of a stack kept apart from the session's: its own key prefix
    (still below the session's, so the session cleans it up) and its own queue."""
    prefix = f"{key_prefix}{uuid.uuid4().hex[:6]}"
    return {"FASTPROC_KEY_PREFIX": prefix, "FASTPROC_QUEUE_NAME": f"{prefix}:queue",
            **settings}


@dataclass
class Stack:
    """Worker processes and an API of their own, for tests that need other settings."""

    url: str
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]]
    api: subprocess.Popen[bytes]

    @property
    def prefix(self) -> str:
        return self.env["FASTPROC_KEY_PREFIX"]

    def client(self, timeout: float = 20) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


class Processes:
    """Child processes of the test session. Those a module starts (its own stacks) stop when
    the module ends (`stop_since`), so idle stacks never pile up and slow later modules; the
    session's own worker and API (`keep`) stop at the session's end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.children: list[subprocess.Popen[bytes]] = []
        self._kept: set[int] = set()

    def keep(self, child: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
        """A child that lives until the session ends, whichever module started it."""
        self._kept.add(child.pid)
        return child

    def stop_since(self, mark: int) -> None:
        """Stop the children started since `len(self.children)` was `mark`, but kept ones."""
        _stop([c for c in self.children[mark:] if c.pid not in self._kept])

    def spawn(self, args: list[str], name: str, module: str = "fastproc",
              **env: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}-{len(self.children)}.log").open("wb")
        child = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=ROOT,
            env={**os.environ, **self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        self.children.append(child)
        return child

    def worker(self, r: redis.Redis, *, launcher: str = "fastproc",
               **env: str) -> subprocess.Popen[bytes]:
        """A worker process started by `fastproc worker` or (`launcher="arq"`) by
        `arq fastproc.WorkerSettings`, returned once it listens for work: subscribed to its
        nudges, or (arq's loop has none) registered in the catalogue."""
        merged = {**self.env, **env}
        channel = f"{merged['FASTPROC_KEY_PREFIX']}:wake:{merged['FASTPROC_QUEUE_NAME']}"
        registered = f"{merged['FASTPROC_KEY_PREFIX']}:processes:workers"

        def listeners() -> int:
            return int(r.pubsub_numsub(channel)[0][1])

        def ready() -> bool:
            if launcher == "arq":
                return bool(set(r.zrange(registered, 0, -1)) - workers)
            return listeners() > before

        before, workers = listeners(), set(r.zrange(registered, 0, -1))
        if launcher == "arq":
            child = self.spawn(["fastproc.WorkerSettings"], "worker", module="arq", **env)
        else:
            child = self.spawn(["worker"], "worker", **env)
        wait_for(lambda: child.poll() is not None or ready(), STARTUP_WAIT, "a worker to start")
        assert child.poll() is None, "worker exited at start-up"
        return child

    def stack(self, r: redis.Redis, key_prefix: str, *, workers: int = 1,
              **settings: str) -> Stack:
        """Workers, then an API, on a fresh prefix with these FASTPROC_* settings."""
        env = own_env(key_prefix, **settings)
        started = [self.worker(r, **env) for _ in range(workers)]
        port = free_port()
        api = self.api(port, **env)
        return Stack(f"http://127.0.0.1:{port}", env, started, api)

    def api(self, port: int, **env: str) -> subprocess.Popen[bytes]:
        child = self.spawn(["serve", "--port", str(port)], "api", **env)

        def up() -> bool:
            assert child.poll() is None, "API exited at start-up"
            try:
                return httpx.get(f"http://127.0.0.1:{port}/conformance", timeout=1).is_success
            except httpx.TransportError:
                return False

        wait_for(up, STARTUP_WAIT, "the API to answer")
        return child

    def stop_all(self) -> None:
        _stop(self.children)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, then SIGKILL whatever has not ended 10 s later."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


#: An async execution computed afresh (a cached result would give a job that already ended).
ASYNC_FRESH = {"Prefer": "respond-async", "Cache-Control": "no-cache"}


@dataclass(frozen=True)
class StartedJob:
    """A job created by an execute request: the 201 answer, its statusInfo and its URL."""

    response: httpx.Response
    status: dict[str, Any]
    location: str

    @property
    def id(self) -> str:
        return str(self.status["jobID"])


def start_job(client: httpx.Client, process_id: str, inputs: dict[str, Any] | None = None,
              *, headers: Mapping[str, str] = ASYNC_FRESH, **body: Any) -> StartedJob:
    """POST an execution that must create a job (`body` adds members such as `response` or
    `subscriber`; `headers` replaces the Prefer and Cache-Control defaults): 201 with a
    statusInfo of this process valid against the OGC schema, at a Location naming the job."""
    document = body if inputs is None else {"inputs": inputs, **body}
    response = client.post(f"/processes/{process_id}/execution", json=document,
                           headers=dict(headers))
    assert response.status_code == 201, f"{response.status_code} {response.text}"
    assert response.headers.get("content-type", "").startswith("application/json"), \
        response.headers
    status: dict[str, Any] = validate(response.json(), "statusInfo")
    assert status["processID"] == process_id, status
    location = response.headers.get("location", "")
    assert location.rstrip("/").endswith(f"/jobs/{status['jobID']}"), response.headers
    return StartedJob(response, status, location)


def submit_async(client: httpx.Client, process_id: str, inputs: dict[str, Any],
                 **body: Any) -> str:
    """The id of a job from `start_job`, for callers that need nothing else."""
    return start_job(client, process_id, inputs, **body).id


def job_status(client: httpx.Client, job_id: str) -> dict[str, Any]:
    try:
        response = client.get(f"/jobs/{job_id}")
    except httpx.RemoteProtocolError:
        # A kept-alive connection the server closed as idle (after its keep-alive timeout,
        # as a test waited for a worker to start) just as the client reused it: a GET may
        # be sent again on a new connection (RFC 9112, 9.3.1), as browsers do.
        response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    return status


def wait_job(client: httpx.Client, job_id: str, timeout: float = 30,
             until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """The job's statusInfo once `until` holds (default: the job ended)."""
    done = until or (lambda s: s["status"] in ("successful", "failed", "dismissed"))

    def check() -> dict[str, Any] | None:
        status = job_status(client, job_id)
        return status if done(status) else None

    result: dict[str, Any] = wait_for(check, timeout, f"job {job_id}")
    return result


def assert_no_orphaned_running(r: redis.Redis, prefix: str, queue: str) -> None:
    """No job is left `accepted` or `running` without a task that will end it: each such
    record has its arq task (or a fan-out part or merge of it) in progress or queued."""
    queued = {member.decode() for member in r.zrange(queue, 0, -1)}
    orphans = []
    for key in r.scan_iter(match=f"{prefix}:job:*", count=1000):
        name = key.decode()
        job_id = name.removeprefix(f"{prefix}:job:")
        if ":" in job_id or r.type(key) != b"hash":
            continue
        status = r.hget(key, "status")
        if status not in (b"accepted", b"running"):
            continue
        tasks = [t for t in queued if t == job_id or t.startswith(f"{job_id}:")]
        live = [t for t in [job_id, *tasks] if r.exists(f"arq:in-progress:{t}")]
        if not tasks and not live:
            orphans.append((job_id, status.decode()))
    assert not orphans, f"records left without a task to end them: {orphans}"


def read_until_closed(sock: socket.socket, timeout: float = 60) -> bytes:
    """Everything a server sends until it closes the connection (a reset counts as closed);
    fails if it never does within `timeout`."""
    sock.settimeout(timeout)
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open for {timeout}s "
                                 f"(got {received[:200]!r})") from None
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
