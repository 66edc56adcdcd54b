"""The result cache of deterministic processes."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import redis
from hypothesis import given
from hypothesis import strategies as st

from fastproc.cache_key import cache_digest
from tests.support import Processes, free_port, wait_for

json_values = st.recursive(
    # what JSON parsing can produce: orjson reads integers beyond 64 bits as floats
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                  max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=6), json_values, max_size=6))
def test_cache_key_ignores_the_order_of_input_members(inputs: dict[str, Any]) -> None:
    reordered = dict(reversed(list(inputs.items())))
    assert cache_digest("p", "1", inputs, None, "raw") == cache_digest("p", "1", reordered,
                                                                        None, "raw")


@given(st.dictionaries(st.text(max_size=6), json_values, min_size=1, max_size=6))
def test_cache_key_changes_with_version_outputs_and_response(inputs: dict[str, Any]) -> None:
    base = cache_digest("p", "1", inputs, None, "raw")
    assert base != cache_digest("p", "2", inputs, None, "raw")
    assert base != cache_digest("p", "1", inputs, None, "document")
    assert base != cache_digest("p", "1", inputs, {"x": {}}, "raw")
    assert base != cache_digest("q", "1", inputs, None, "raw")


#: Echo asked for its `value` output alone.
ECHO_VALUE = {"value": {}}


def _echo(client: httpx.Client, value: str, process_id: str = "echo",
          **headers: str) -> httpx.Response:
    response = client.post(f"/processes/{process_id}/execution", headers=headers,
                           json=_echo_body(process_id, value))
    assert response.status_code == 200, response.text
    return response


def _echo_body(process_id: str, value: str) -> dict[str, Any]:
    """Echo's `value` alone (its raw text); a test process of one output as it is."""
    if process_id == "echo":
        return {"inputs": {"value": value}, "outputs": ECHO_VALUE}
    return {"inputs": {"value": value}}


def _created_a_job(response: httpx.Response) -> bool:
    return 'rel="monitor"' in response.headers.get("link", "")


def test_second_identical_sync_request_is_a_hit_without_a_job(client: httpx.Client) -> None:
    value = uuid.uuid4().hex
    first = _echo(client, value)
    assert _created_a_job(first)
    second = _echo(client, value)
    assert second.text == value and not _created_a_job(second)


def test_no_cache_header_bypasses_the_cache(client: httpx.Client) -> None:
    value = uuid.uuid4().hex
    _echo(client, value)
    bypass = _echo(client, value, **{"Cache-Control": "no-cache"})
    assert bypass.text == value and _created_a_job(bypass)


def test_async_hit_answers_with_a_successful_job_listed_in_jobs(client: httpx.Client) -> None:
    value = uuid.uuid4().hex
    _echo(client, value)
    response = client.post("/processes/echo/execution", headers={"Prefer": "respond-async"},
                           json=_echo_body("echo", value))
    assert response.status_code == 201
    job = response.json()
    assert job["status"] == "successful"
    listed = client.get("/jobs", params={"processID": "echo", "limit": 50}).json()["jobs"]
    assert job["jobID"] in [j["jobID"] for j in listed]
    assert client.get(f"/jobs/{job['jobID']}/results").text == value


def test_one_callers_cached_result_never_answers_another_caller(
    procs: Processes, worker: object,
) -> None:
    """With access control on, a hit on Alice's result would tell Bob what Alice submitted:
    Bob's identical request is computed as a job of his own."""
    port = free_port()
    procs.api(port, FASTPROC_API_KEYS="alice:alice-cache-key,bob:bob-cache-key")
    url = f"http://127.0.0.1:{port}"
    value = uuid.uuid4().hex
    with httpx.Client(base_url=url, timeout=20,
                      headers={"Authorization": "Bearer alice-cache-key"}) as alice, \
            httpx.Client(base_url=url, timeout=20,
                         headers={"Authorization": "Bearer bob-cache-key"}) as bob:
        assert _created_a_job(_echo(alice, value))
        assert not _created_a_job(_echo(alice, value)), "Alice's own repeat is a hit"
        answer = _echo(bob, value)
        assert answer.text == value and _created_a_job(answer), "Bob got Alice's cached result"
        again = bob.post("/processes/echo/execution", json=_echo_body("echo", value),
                         headers={"Prefer": "respond-async"})
        assert again.status_code == 201
        assert again.json()["status"] == "successful", "Bob's own result is a hit for Bob"


def test_failures_are_never_cached(client: httpx.Client, r: redis.Redis,
                                   key_prefix: str) -> None:
    value = uuid.uuid4().hex
    digest = cache_digest("deterministic_fail", "1.0.0", {"value": value}, None, "raw")
    for _ in range(2):
        response = client.post("/processes/deterministic_fail/execution",
                               json={"inputs": {"value": value}})
        assert response.status_code >= 400
        assert f"refusing {value}" in response.json()["detail"]
        assert r.exists(f"{key_prefix}:cache:{digest}") == 0


def test_concurrent_identical_requests_all_get_the_right_answer(client: httpx.Client) -> None:
    value = uuid.uuid4().hex
    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda _: _echo(client, value).text, range(16)))
    assert texts == [value] * 16


def test_cache_entries_expire_after_the_cache_ttl(procs: Processes, r: redis.Redis,
                                                  key_prefix: str) -> None:
    stack = procs.stack(r, key_prefix, FASTPROC_CACHE_TTL="1")
    value = uuid.uuid4().hex
    # The outputs as the job keeps them (each with its transmission mode).
    digest = cache_digest("echo", "1.0.0", {"value": value},
                          {"value": {"transmissionMode": "value"}}, "raw")
    entry = f"{stack.prefix}:cache:{digest}"
    with stack.client() as client:
        assert _created_a_job(_echo(client, value))
        assert r.exists(entry) and 0 < r.pttl(entry) <= 1000
        wait_for(lambda: not r.exists(entry), 5, "the cache entry to expire")
        assert _created_a_job(_echo(client, value))


def test_a_new_process_version_misses_the_cache(procs: Processes, r: redis.Redis,
                                                key_prefix: str) -> None:
    stack = procs.stack(r, key_prefix, TEST_ECHO_VERSION="1.0.0")
    old = stack.workers[0]
    value = uuid.uuid4().hex
    with stack.client() as client:
        assert _echo(client, value, "versioned_echo").text == f"{value}@1.0.0"
        assert not _created_a_job(_echo(client, value, "versioned_echo"))
        old.terminate()
        old.wait(timeout=20)
        procs.worker(r, **{**stack.env, "TEST_ECHO_VERSION": "2.0.0"})
        wait_for(lambda: client.get("/processes/versioned_echo").json()["version"] == "2.0.0",
                 10, "the API to see version 2.0.0")
        again = _echo(client, value, "versioned_echo")
        assert again.text == f"{value}@2.0.0" and _created_a_job(again)
