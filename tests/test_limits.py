"""Hostile and oversized requests: bounded by settings, answered with 4xx, never a 500,
and the server keeps serving."""

from __future__ import annotations

import httpx
import pytest
import redis

from tests.support import Processes, submit_async, wait_job


def _post(client: httpx.Client, process_id: str, body: bytes | dict[str, object]
          ) -> httpx.Response:
    if isinstance(body, bytes):
        return client.post(f"/processes/{process_id}/execution", content=body,
                           headers={"Content-Type": "application/json"})
    return client.post(f"/processes/{process_id}/execution", json=body)


def _nested(depth: int) -> object:
    value: object = "x"
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("body,status", [
    ({"inputs": {"value": _nested(40)}}, 400),                      # nesting depth
    ({"inputs": {f"i{n}": 1 for n in range(150)}}, 400),            # number of inputs
    ({"inputs": {"numbers": list(range(20))}}, 200),                 # a fine array
    (b'{"inputs": {"value": "\xff\xfe"}}', 400),                      # invalid UTF-8
    (b'[' * 5000 + b']' * 5000, 400),                                 # deep JSON array
    (b'{"inputs": {"value": 1e999}}', 400),                           # not a string
    (b'{"inputs": ', 400),                                             # truncated JSON
])
def test_hostile_bodies_get_a_client_error(client: httpx.Client, body: bytes | dict[str, object],
                                           status: int) -> None:
    process_id = "number_stats" if isinstance(body, dict) and "numbers" in str(body) else "echo"
    response = _post(client, process_id, body)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.json()["status"] == status
    assert client.get("/conformance").status_code == 200


@pytest.fixture(scope="module")
def small_limits(procs: Processes, r: redis.Redis, key_prefix: str) -> str:
    return procs.stack(r, key_prefix, FASTPROC_MAX_ARRAY_ITEMS="10",
                       FASTPROC_MAX_STRING_BYTES="100", FASTPROC_MAX_QUEUED_PER_PROCESS="3",
                       FASTPROC_WORKER_CONCURRENCY="1").url


def test_array_and_string_sizes_are_bounded(small_limits: str) -> None:
    with httpx.Client(base_url=small_limits, timeout=20) as client:
        long_array = _post(client, "number_stats", {"inputs": {"numbers": list(range(11))}})
        assert long_array.status_code == 400 and "10 items" in long_array.json()["detail"]
        long_text = _post(client, "echo", {"inputs": {"value": "x" * 101}})
        assert long_text.status_code == 400 and "100 bytes" in long_text.json()["detail"]
        assert _post(client, "echo", {"inputs": {"value": "x" * 100}}).status_code == 200


def test_a_full_process_queue_answers_429_with_retry_after(small_limits: str) -> None:
    with httpx.Client(base_url=small_limits, timeout=20) as client:
        running = submit_async(client, "sleep", {"seconds": 1.5})
        wait_job(client, running, until=lambda s: s["status"] == "running")
        queued = [submit_async(client, "sleep", {"seconds": 0.1}) for _ in range(3)]
        refused = client.post("/processes/sleep/execution", json={"inputs": {"seconds": 0}},
                              headers={"Prefer": "respond-async"})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "5"
        assert refused.json()["type"].endswith("/too-many-jobs")
        dismissed = client.delete(f"/jobs/{queued[-1]}")
        assert dismissed.status_code == 200  # a dismissed queued job frees its place
        assert submit_async(client, "sleep", {"seconds": 0})
        for job_id in [running, *queued[:-1]]:
            assert wait_job(client, job_id)["status"] == "successful"
