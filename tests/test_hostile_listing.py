"""`/jobs` when many jobs are not the caller's, and while records expire between pages.

A listing reads the caller's own index, so its cost does not grow with other callers' jobs;
it pages by cursor, so expiring records never make a live job skip. Other callers' jobs are
written straight into Redis by `JobStore.create` (the record format the API writes),
thousands of them faster than submitting.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from fastproc.embedded import embedded_valkey
from fastproc.store.job_store import JobStore
from fastproc.wire.keys import Keys
from tests.e2e import assert_exception, json_doc, links_by_rel, one_link
from tests.support import Processes, free_port, own_env, wait_for, wait_job

#: Commands one listing of a caller's few jobs may cost (measured: under ten).
COMMAND_BOUND = 40


def write_jobs(url: str, prefix: str, owners: list[str | None], process_id: str) -> list[str]:
    """One accepted job per entry of `owners`, as the API records it (and none queued)."""
    async def write() -> list[str]:
        client = AsyncRedis.from_url(url)
        store = JobStore(client, Keys(prefix), job_ttl=3600, active_ttl=3600)
        ids = [uuid.uuid4().hex for _ in owners]
        try:
            for start in range(0, len(ids), 200):
                await asyncio.gather(*(
                    store.create(job_id, process_id, {"inputs": {}}, owner=owner)
                    for job_id, owner in zip(ids[start:start + 200], owners[start:start + 200],
                                             strict=True)))
        finally:
            await client.aclose()
        return ids

    return asyncio.run(write())


def commands_served(r: redis.Redis) -> int:
    """Commands the server has run, but for the INFO calls that read this count."""
    stats: dict[str, Any] = r.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")


def listed(client: httpx.Client, url: str = "/jobs", **params: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json_doc(client.get(url, params=params or None), "jobList")
    return doc


def ids_of(doc: dict[str, Any]) -> list[str]:
    return [job["jobID"] for job in doc["jobs"]]


@pytest.fixture
def private_valkey() -> Iterator[tuple[str, redis.Redis]]:
    """A Valkey of this test alone, so its command counts are the listing's."""
    with embedded_valkey() as url:
        client = redis.Redis.from_url(url)
        yield url, client
        client.close()


def test_a_listing_costs_the_callers_jobs_not_everybody_elses(
    procs: Processes, key_prefix: str, private_valkey: tuple[str, redis.Redis],
) -> None:
    url, r = private_valkey
    stack = procs.stack(r, key_prefix, FASTPROC_REDIS_URL=url,
                        FASTPROC_API_KEYS="alice:alice-list-key,bob:bob-list-key",
                        FASTPROC_POLL_DELAY="5", FASTPROC_CATALOGUE_REFRESH="3600")
    others: list[str | None] = [*(f"other{i % 50}" for i in range(2000)),
                                *(["bob"] * 500), *([None] * 500)]
    write_jobs(url, stack.prefix, others, "echo")
    with httpx.Client(base_url=stack.url, timeout=30,
                      headers={"Authorization": "Bearer alice-list-key"}) as alice:
        mine = []
        for _ in range(3):
            created = alice.post("/processes/echo/execution",
                                 json={"inputs": {"value": uuid.uuid4().hex}},
                                 headers={"Prefer": "respond-async"})
            assert created.status_code == 201, created.text
            mine.append(created.json()["jobID"])
        for job_id in mine:
            assert wait_job(alice, job_id)["status"] == "successful"

        for params in ({}, {"processID": "echo"}, {"processID": "echo", "status": "successful"},
                       {"status": "successful", "limit": 2}):
            before = commands_served(r)
            doc = listed(alice, **params)
            cost = commands_served(r) - before
            expected = mine[::-1][:int(params.get("limit", 100))]
            assert ids_of(doc) == expected, params
            assert cost <= COMMAND_BOUND, \
                f"one listing ({params}) ran {cost} commands with 3,000 other jobs stored"


@pytest.fixture
def bare_api(procs: Processes, key_prefix: str) -> Iterator[tuple[httpx.Client, str]]:
    """An API of its own prefix (no worker: the jobs here are written, never run)."""
    env = own_env(key_prefix)
    port = free_port()
    procs.api(port, **env)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client, env["FASTPROC_KEY_PREFIX"]


def expire(r: redis.Redis, prefix: str, job_ids: list[str]) -> None:
    """Let these records expire (1 ms TTL) and wait until Redis has dropped them."""
    for job_id in job_ids:
        r.pexpire(f"{prefix}:job:{job_id}", 1)
    wait_for(lambda: not any(r.exists(f"{prefix}:job:{j}") for j in job_ids), 10,
             "the records to expire")


def jobs_of_a_new_process(client: httpx.Client, redis_url: str, prefix: str, n: int
                          ) -> tuple[str, list[str]]:
    """`n` jobs of a process of their own, and their ids as the API lists them."""
    process = f"listed-{uuid.uuid4().hex[:8]}"
    write_jobs(redis_url, prefix, [None] * n, process)
    everything = ids_of(listed(client, processID=process, limit=10_000))
    assert len(everything) == n
    return process, everything


def test_records_expiring_between_pages_never_make_a_live_job_skip(
    bare_api: tuple[httpx.Client, str], r: redis.Redis, redis_url: str,
) -> None:
    client, prefix = bare_api
    process, everything = jobs_of_a_new_process(client, redis_url, prefix, 30)
    first = listed(client, processID=process, limit=10)
    assert ids_of(first) == everything[:10]
    expire(r, prefix, everything[:10])
    second = listed(client, one_link(first, "next")["href"])
    assert ids_of(second) == everything[10:20], "live jobs were skipped"
    expire(r, prefix, everything[20:25])
    third = listed(client, one_link(second, "next")["href"])
    assert ids_of(third) == everything[25:30]
    assert not links_by_rel(third, "next")


def test_the_first_page_lists_the_newest_live_jobs_when_many_newer_records_expired(
    bare_api: tuple[httpx.Client, str], r: redis.Redis, redis_url: str,
) -> None:
    client, prefix = bare_api
    process, everything = jobs_of_a_new_process(client, redis_url, prefix, 1000)
    expire(r, prefix, everything[:600])
    page = listed(client, processID=process, limit=100)
    assert ids_of(page) == everything[600:700]
    assert ids_of(listed(client, processID=process, limit=10_000)) == everything[600:]


def test_prev_links_page_back_over_the_same_jobs(
    bare_api: tuple[httpx.Client, str], redis_url: str,
) -> None:
    client, prefix = bare_api
    process, everything = jobs_of_a_new_process(client, redis_url, prefix, 11)
    forward = [listed(client, processID=process, limit=3)]
    while links_by_rel(forward[-1], "next"):
        forward.append(listed(client, one_link(forward[-1], "next")["href"]))
    assert [len(doc["jobs"]) for doc in forward] == [3, 3, 3, 2]
    assert not links_by_rel(forward[0], "prev")
    back = [forward[-1]]
    while links_by_rel(back[-1], "prev"):
        back.append(listed(client, one_link(back[-1], "prev")["href"]))
    assert [ids_of(doc) for doc in back] == [ids_of(doc) for doc in reversed(forward)]
    assert [job for doc in forward for job in ids_of(doc)] == everything


@pytest.mark.parametrize("params", [
    {"after": "not-a-cursor"}, {"before": "nan_abc"}, {"after": "1.5"},
    {"after": "1.5_a", "before": "2.5_b"},
])
def test_a_malformed_or_contradictory_cursor_is_400(
    client: httpx.Client, params: dict[str, str],
) -> None:
    assert_exception(client.get("/jobs", params=params), 400, "InvalidParameterValue")


def test_every_key_of_submitted_and_listed_jobs_has_a_ttl(
    bare_api: tuple[httpx.Client, str], r: redis.Redis, redis_url: str,
) -> None:
    """Indexes, records and the submit counters: nothing written for a job lives forever,
    even when no worker ever runs it."""
    client, prefix = bare_api
    write_jobs(redis_url, prefix, ["alice", "bob", None], "echo")
    assert len(ids_of(listed(client, processID="echo"))) == 1  # the job without an owner
    keys = [key.decode() for key in r.scan_iter(match=f"{prefix}:*", count=1000)]
    assert f"{prefix}:jobs:owner:alice:process:echo" in keys
    forever = [key for key in keys if r.ttl(key) < 0]
    assert not forever, f"keys without a TTL: {forever}"


def test_an_index_pruned_to_nothing_and_made_anew_gets_a_ttl(
    redis_url: str, r: redis.Redis,
) -> None:
    """A listing prunes index members whose records expired, and may empty an index; the
    next submission from a process that renewed that index lately (so passes no TTL) must
    still give the index it makes again a TTL, or it would live for ever."""
    prefix = f"fpi{uuid.uuid4().hex[:8]}"
    keys = Keys(prefix)

    async def scenario() -> list[int]:
        client = AsyncRedis.from_url(redis_url)
        store = JobStore(client, keys, job_ttl=3600, active_ttl=3600)
        try:
            await store.create(uuid.uuid4().hex, "echo", {"inputs": {}}, owner="alice")
            indexes = keys.job_indexes("alice", "echo")
            assert all(ttl > 0 for ttl in [await client.ttl(index) for index in indexes])
            await client.delete(*indexes)  # what pruning the last member does
            await store.create(uuid.uuid4().hex, "echo", {"inputs": {}}, owner="alice")
            return [await client.ttl(index) for index in indexes]
        finally:
            await client.aclose()

    try:
        ttls = asyncio.run(scenario())
        assert ttls and all(ttl > 0 for ttl in ttls), ttls
    finally:
        for key in r.scan_iter(match=f"{prefix}*"):
            r.delete(key)
