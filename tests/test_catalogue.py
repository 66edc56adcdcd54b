"""The process catalogue forgets: the API lists what some live worker serves, a process no
worker serves any more answers 503 on execution (404 when described), and a process nothing
reported for the retention period is forgotten (404 everywhere)."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Awaitable, Callable, Iterator

import anyio
import httpx
import pytest
import redis

from fastproc.authoring.registry import Registry
from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.catalogue import Catalogue, CatalogueEntry, ProcessNotServed, Registration
from fastproc.wire.keys import Keys
from tests.e2e import assert_exception
from tests.support import Processes, free_port, own_env, wait_for

#: Seconds a report holds in these tests: a stopped worker's processes lapse quickly.
TTL = "3"


def _listed(client: httpx.Client) -> set[str]:
    response = client.get("/processes", params={"limit": 10_000})
    assert response.status_code == 200, response.text
    return {p["id"] for p in response.json()["processes"]}


def _catalogue_keys(prefix: str) -> list[str]:
    return [f"{prefix}:processes", f"{prefix}:processes:served", f"{prefix}:processes:workers"]


@pytest.fixture
def stack(procs: Processes, r: redis.Redis, key_prefix: str
          ) -> Iterator[tuple[dict[str, str], httpx.Client]]:
    """An API and the environment of its workers (started by each test)."""
    env = own_env(key_prefix, FASTPROC_CATALOGUE_TTL=TTL,
                  FASTPROC_PROCESSES="workers.examples,tests.processes")
    port = free_port()
    procs.api(port, **env)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
        yield env, client


def test_a_process_no_worker_serves_any_more_is_unlisted_and_503_to_execute(
    procs: Processes, r: redis.Redis, stack: tuple[dict[str, str], httpx.Client],
) -> None:
    env, client = stack
    prefix = env["FASTPROC_KEY_PREFIX"]
    old = procs.worker(r, **env)
    wait_for(lambda: "multiply" in _listed(client), 30, "multiply to be listed")
    old.send_signal(signal.SIGTERM)
    assert old.wait(timeout=30) == 0
    assert r.zcard(f"{prefix}:processes:workers") == 0, "a stopped worker is still live"
    procs.worker(r, **{**env, "FASTPROC_PROCESSES": "workers.examples"})

    wait_for(lambda: "multiply" not in _listed(client), 30, "multiply to leave the list")
    assert "echo" in _listed(client), "a served process lapsed with the stopped worker"
    assert_exception(client.get("/processes/multiply"), 404, "no-such-process")
    refused = client.post("/processes/multiply/execution",
                          json={"inputs": {"x": 2, "y": 3}})
    assert_exception(refused, 503, "service-unavailable", mentions=["multiply", "worker"])
    served = client.post("/processes/echo/execution",
                         json={"inputs": {"value": "still"}, "outputs": {"value": {}}})
    assert (served.status_code, served.text) == (200, "still")
    for key in _catalogue_keys(prefix):
        assert r.ttl(key) > 0, f"{key} has no TTL"


def test_a_killed_workers_processes_lapse_and_return_with_a_new_worker(
    procs: Processes, r: redis.Redis, stack: tuple[dict[str, str], httpx.Client],
) -> None:
    env, client = stack
    victim = procs.worker(r, **env)
    wait_for(lambda: "echo" in _listed(client), 30, "echo to be listed")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    wait_for(lambda: not _listed(client), 30, "the killed worker's processes to lapse")
    refused = client.post("/processes/echo/execution", json={"inputs": {"value": "x"}})
    assert_exception(refused, 503, "service-unavailable", mentions=["echo"])
    assert_exception(client.post("/processes/nowhere/execution", json={"inputs": {}}),
                     404, "no-such-process")

    procs.worker(r, **env)
    wait_for(lambda: "echo" in _listed(client), 30, "echo to be listed again")
    again = client.post("/processes/echo/execution",
                        json={"inputs": {"value": "back"}, "outputs": {"value": {}}})
    assert (again.status_code, again.text) == (200, "back")


async def _eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until `check()` holds (it observes a real event), or fail after 30 s."""
    with anyio.fail_after(30):
        while True:
            if await check():
                return
            await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_a_process_nothing_reported_for_the_retention_period_is_forgotten(
        redis_url: str, key_prefix: str) -> None:
    keys = Keys(f"{key_prefix}c{uuid.uuid4().hex[:6]}")
    redis = connect(Settings(redis_url=redis_url))
    entries = {p.id: CatalogueEntry(description=p.description, queue="q")
               for p in Registry.from_modules(["workers.examples"])}
    retired = Registration(redis, keys, [entries["echo"], entries["add"]], ttl=0.3,
                           retention=1)
    current = Registration(redis, keys, [entries["add"]], ttl=0.3, retention=1)
    catalogue = Catalogue(redis, keys, refresh=0)

    async def unserved() -> bool:
        return await catalogue.get("echo") is None

    async def forgotten() -> bool:
        return not await redis.hexists(keys.processes, "echo")

    try:
        await retired.start()
        await current.start()
        assert {p.description.id for p in await catalogue.all()} == {"echo", "add"}
        await retired.stop()
        await _eventually(unserved)
        with pytest.raises(ProcessNotServed):
            await catalogue.executable("echo")
        # The other worker's heartbeat forgets it once the retention period is over.
        await _eventually(forgotten)
        assert await catalogue.executable("echo") is None
        assert await catalogue.executable("add") is not None
    finally:
        await current.stop()
        await redis.aclose()
