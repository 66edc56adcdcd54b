"""The soft time limit of a process: `slow_cleanup` (limit 0.5 s) is cancelled and its job
fails with a message that names the limit, long before its body would have finished.

Nothing here times the server: a body asked to sleep ten minutes that ends within a
minute, failed with the time-limit message, was cancelled at its limit.
"""

from __future__ import annotations

import httpx

from tests.e2e import assert_exception, show, wait_status
from tests.support import start_job

#: Ten minutes: far longer than any wait below, so only the limit can end the body.
SECONDS = 600
#: How the failure names `slow_cleanup`'s own limit.
LIMIT = "time limit of 0.5 s"


def test_job_past_its_time_limit_fails_well_before_its_body_would_end(
    client: httpx.Client,
) -> None:
    location = start_job(client, "slow_cleanup", {"seconds": SECONDS}).location
    failed = wait_status(client, location, "failed", timeout=60)
    assert LIMIT in failed.get("message", ""), failed
    response = client.get(f"{location}/results")
    assert response.status_code >= 400, show(response)
    doc = assert_exception(response, response.status_code)
    assert LIMIT in doc["detail"], doc


def test_sync_execution_past_the_time_limit_answers_the_failure(client: httpx.Client) -> None:
    """The session's sync wait (20 s) is far below the body's ten minutes: an answer that is
    not the time-limit failure would be the job still running."""
    response = client.post("/processes/slow_cleanup/execution",
                           json={"inputs": {"seconds": SECONDS}},
                           headers={"Cache-Control": "no-cache"})
    assert response.status_code >= 400, show(response)
    doc = assert_exception(response, response.status_code)
    assert LIMIT in doc["detail"], doc


def test_job_within_its_time_limit_succeeds(client: httpx.Client) -> None:
    location = start_job(client, "slow_cleanup", {"seconds": 0}).location
    wait_status(client, location, "successful", timeout=60)
    response = client.get(f"{location}/results")
    assert response.status_code == 200, show(response)
    assert response.json() == 0
