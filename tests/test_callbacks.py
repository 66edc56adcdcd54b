"""Callbacks (`subscriber`): the worker POSTs statusInfo, results or the exception."""

from __future__ import annotations

import time
import uuid

import httpx
import orjson

from tests.localhttp import LocalHTTP
from tests.support import submit_async, wait_job


def _hooks(local_http: LocalHTTP, **fail_first: int) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {uri: local_http.hook(f"{tag}-{uri}", fail_first.get(uri, 0))
            for uri in ("successUri", "inProgressUri", "failedUri")}


def _name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_success_and_in_progress_callbacks(client: httpx.Client,
                                           local_http: LocalHTTP) -> None:
    hooks = _hooks(local_http)
    job_id = submit_async(client, "add", {"a": 2, "b": 5}, subscriber=hooks)
    assert wait_job(client, job_id)["status"] == "successful"
    running = orjson.loads(local_http.wait_for_calls(_name(hooks["inProgressUri"]), 1, 10)[0])
    assert running["jobID"] == job_id and running["status"] == "running"
    results = orjson.loads(local_http.wait_for_calls(_name(hooks["successUri"]), 1, 10)[0])
    assert results == {"sum": 7}
    assert local_http.received[_name(hooks["failedUri"])] == []


def test_failed_callback_carries_the_exception(client: httpx.Client,
                                               local_http: LocalHTTP) -> None:
    hooks = _hooks(local_http)
    job_id = submit_async(client, "fail", {"message": "boom for callbacks"}, subscriber=hooks)
    assert wait_job(client, job_id)["status"] == "failed"
    problem = orjson.loads(local_http.wait_for_calls(_name(hooks["failedUri"]), 1, 10)[0])
    assert problem["detail"] == "boom for callbacks" and problem["type"].startswith("http")


def test_callbacks_are_retried_with_backoff(client: httpx.Client,
                                            local_http: LocalHTTP) -> None:
    hooks = _hooks(local_http, successUri=2)
    job_id = submit_async(client, "add", {"a": 1, "b": 1}, subscriber=hooks)
    assert wait_job(client, job_id)["status"] == "successful"
    calls = local_http.wait_for_calls(_name(hooks["successUri"]), 1, 15)
    assert [orjson.loads(body) for body in calls] == [{"sum": 2}]


def test_a_slow_subscriber_does_not_delay_the_job(client: httpx.Client,
                                                  local_http: LocalHTTP) -> None:
    slow = local_http.hook(f"slow-{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    response = client.post("/processes/add/execution", json={
        "inputs": {"a": 3, "b": 4}, "response": "document",
        "subscriber": {"successUri": slow, "inProgressUri": slow}})
    assert response.status_code == 200 and response.json() == {"sum": 7}
    assert time.monotonic() - started < 2.5, "the job waited for its subscriber"
    assert len(local_http.wait_for_calls(_name(slow), 2, 15)) == 2


def test_a_callback_to_a_refused_address_is_a_bad_request(client: httpx.Client) -> None:
    response = client.post("/processes/add/execution", json={
        "inputs": {"a": 1, "b": 2}, "subscriber": {"successUri": "ftp://example.org/x"}})
    assert response.status_code == 400
    assert "subscriber successUri" in response.json()["detail"]
