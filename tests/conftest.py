"""Session fixtures: a real Valkey (embedded, or FASTPROC_REDIS_URL), the real API under
uvicorn and a real arq worker, each in its own process, shared by the end-to-end tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from fastproc.embedded import embedded_valkey
from tests.gated import Gates
from tests.localhttp import LocalHTTP
from tests.support import Processes, free_port

#: The session's `procs`, once a test has asked for it.
_SESSION_PROCESSES: list[Processes] = []


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = os.environ.get("FASTPROC_REDIS_URL")
    if given:
        yield given
        return
    with embedded_valkey() as url:
        yield url


@pytest.fixture(scope="session")
def key_prefix() -> str:
    """A prefix of our own: the session deletes only what it wrote, never a whole database."""
    return f"fpt{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def r(redis_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    # Once the session's jobs have ended, every key has a TTL but arq's queues (emptied by
    # the workers).
    forever = []
    for key in client.scan_iter(match=f"{key_prefix}*", count=1000):
        name = key.decode()
        if client.ttl(key) == -1 and not name.endswith(":queue"):
            forever.append(name)
        client.delete(key)
    client.close()
    assert not forever, f"keys left without a TTL: {sorted(forever)[:20]}"


@pytest.fixture(scope="session")
def env(redis_url: str, key_prefix: str) -> dict[str, str]:
    return {
        "FASTPROC_REDIS_URL": redis_url,
        "FASTPROC_KEY_PREFIX": key_prefix,
        "FASTPROC_QUEUE_NAME": f"{key_prefix}:queue",
        "FASTPROC_PROCESSES": ("workers.examples,tests.processes,tests.ported_fastprocesses,"
                               "tests.gated"),
        "FASTPROC_SYNC_WAIT": "20",
        "FASTPROC_POLL_DELAY": "0.01",
        "FASTPROC_CATALOGUE_REFRESH": "0.2",
        "FASTPROC_MAX_BODY_BYTES": "200000",
        "FASTPROC_LOG_LEVEL": "INFO",
        # The tests serve references and receive callbacks on loopback.
        "FASTPROC_ALLOW_PRIVATE_ADDRESSES": "true",
    }


@pytest.fixture(scope="session")
def procs(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    logs = Path(tmp_path_factory.mktemp("logs"))
    processes = Processes(env, logs)
    _SESSION_PROCESSES.append(processes)
    yield processes
    processes.stop_all()


@pytest.fixture(scope="module", autouse=True)
def _module_children() -> Iterator[None]:
    """Stops, when a module ends, the stacks and processes it started (autouse and
    module-scoped: set up before the module's own fixtures, so torn down after them)."""
    mark = len(_SESSION_PROCESSES[0].children) if _SESSION_PROCESSES else 0
    yield
    if _SESSION_PROCESSES:
        _SESSION_PROCESSES[0].stop_since(mark)


@pytest.fixture(scope="session")
def worker(procs: Processes, r: redis.Redis) -> object:
    return procs.keep(procs.worker(r))


@pytest.fixture(scope="session")
def api_url(procs: Processes, worker: object) -> str:
    port = free_port()
    procs.keep(procs.api(port))
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def client(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url, timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def local_http() -> Iterator[LocalHTTP]:
    with LocalHTTP() as server:
        yield server


@pytest.fixture
def gates(tmp_path: Path) -> Iterator[Gates]:
    """Gates for processes of tests/gated.py; whatever still waits is let go at the end."""
    found = Gates(tmp_path / "gates")
    yield found
    found.open_all()
