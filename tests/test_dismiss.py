"""`DELETE /jobs/{id}` (OGC API - Processes 1.0, clause 14 "Dismiss")."""

from __future__ import annotations

import time

import httpx
import redis

from tests.e2e import (
    assert_exception,
    json_doc,
    show,
    submit_async,
    unique,
    wait_status,
)

SLEEP = 2.0
MARGIN = 2.0


def test_dismissing_a_running_job_answers_dismissed_and_it_stays_dismissed(
    client: httpx.Client, r: redis.Redis, key_prefix: str,
) -> None:
    _, doc, location = submit_async(client, "sleep", {"inputs": {"seconds": SLEEP}})
    job_id = doc["jobID"]
    wait_status(client, location, "running", timeout=10)
    dismissed_at = time.monotonic()
    response = client.delete(location)
    dismissed = json_doc(response, "statusInfo")
    assert dismissed["status"] == "dismissed", dismissed
    assert dismissed["jobID"] == job_id

    # The sleep would have ended SLEEP s after it started; watch past that, plus a margin:
    # the job must never turn successful, nor store a result, once dismissed.
    seen = []
    while time.monotonic() < dismissed_at + SLEEP + MARGIN:
        status = json_doc(client.get(location), "statusInfo")
        seen.append(status["status"])
        assert status["status"] == "dismissed", f"dismissed job became {status}"
        assert not r.exists(f"{key_prefix}:job:{job_id}:result"), "a dismissed job stored a result"
        time.sleep(0.1)
    assert len(seen) >= 10, seen


def test_results_of_a_dismissed_job_are_an_exception(client: httpx.Client) -> None:
    _, _, location = submit_async(client, "sleep", {"inputs": {"seconds": SLEEP}})
    wait_status(client, location, "running", timeout=10)
    assert json_doc(client.delete(location), "statusInfo")["status"] == "dismissed"
    response = client.get(f"{location}/results")
    assert 400 <= response.status_code < 500, show(response)
    assert_exception(response, response.status_code)
    output = client.get(f"{location}/results/slept")
    assert 400 <= output.status_code < 500, show(output)
    assert_exception(output, output.status_code)


def test_dismissing_an_unknown_job_is_404_no_such_job(client: httpx.Client) -> None:
    assert_exception(client.delete(f"/jobs/{unique('nobody')}"), 404, "no-such-job")


def test_dismissing_a_finished_job_removes_it(client: httpx.Client) -> None:
    _, doc, location = submit_async(client, "echo", {"inputs": {"value": unique()}})
    wait_status(client, location, "successful")
    dismissed = json_doc(client.delete(location), "statusInfo")
    assert dismissed["status"] == "dismissed", dismissed
    assert dismissed["jobID"] == doc["jobID"]
    gone = client.get(f"{location}/results")
    assert 400 <= gone.status_code < 500, show(gone)
    assert_exception(gone, gone.status_code)


def test_dismissing_a_job_a_second_time_is_410_gone(client: httpx.Client) -> None:
    """OGC 18-062r2 clause 9.x: "Continued dismiss requests using the same identifier result
    in a HTTP 410 (Gone) error code, but nothing else is changed on the server"."""
    _, _, location = submit_async(client, "sleep", {"inputs": {"seconds": SLEEP}})
    wait_status(client, location, "running", timeout=10)
    assert json_doc(client.delete(location), "statusInfo")["status"] == "dismissed"
    assert_exception(client.delete(location), 410)

