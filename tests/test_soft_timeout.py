"""The soft time limit of a process: `slow_cleanup` (limit 0.5 s) is cancelled and its job
fails with a message that says why, long before its body would have finished."""

from __future__ import annotations

import time

import httpx

from tests.e2e import assert_exception, show, submit_async, wait_status

SECONDS = 5
#: Well before the 5 s the body asks for: the 0.5 s limit plus generous scheduling slack.
DEADLINE = 3.0


def test_job_past_its_time_limit_fails_well_before_its_body_would_end(
    client: httpx.Client,
) -> None:
    started = time.monotonic()
    _, _, location = submit_async(client, "slow_cleanup", {"inputs": {"seconds": SECONDS}})
    failed = wait_status(client, location, "failed", timeout=DEADLINE)
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE, elapsed
    assert "time limit" in failed.get("message", ""), failed
    response = client.get(f"{location}/results")
    assert response.status_code >= 400, show(response)
    doc = assert_exception(response, response.status_code)
    assert "time limit" in doc["detail"], doc


def test_sync_execution_past_the_time_limit_answers_the_failure_quickly(
    client: httpx.Client,
) -> None:
    started = time.monotonic()
    response = client.post("/processes/slow_cleanup/execution",
                           json={"inputs": {"seconds": SECONDS}})
    elapsed = time.monotonic() - started
    assert response.status_code >= 400, show(response)
    doc = assert_exception(response, response.status_code)
    assert "time limit" in doc["detail"], doc
    assert elapsed < DEADLINE, f"answered after {elapsed:.2f}s"


def test_job_within_its_time_limit_succeeds(client: httpx.Client) -> None:
    _, _, location = submit_async(client, "slow_cleanup", {"inputs": {"seconds": 0.05}})
    wait_status(client, location, "successful", timeout=DEADLINE)
    response = client.get(f"{location}/results")
    assert response.status_code == 200, show(response)
    assert response.json() == 0.05
