"""`DELETE /jobs/{id}` (OGC API - Processes 1.0, clause 13 "Dismiss").

One behaviour whatever state the job was in: the answer is its statusInfo with status
`dismissed`; afterwards the job reads `dismissed`, its results are gone (404 no-such-job),
and a second dismissal answers 410.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest
import redis

from tests.e2e import (
    ASYNC,
    assert_exception,
    json_doc,
    unique,
    wait_status,
)
from tests.support import start_job, wait_for


def _job_in(client: httpx.Client, state: str) -> tuple[str, str]:
    """A job that is `state` now, and the name of one of its outputs."""
    if state == "running":
        job = start_job(client, "sleep", {"seconds": 30}, headers=ASYNC)
        doc, location = job.status, job.location
        output = "slept"
    elif state == "successful":
        job = start_job(client, "echo", {"value": unique()}, headers=ASYNC)
        doc, location = job.status, job.location
        output = "value"
    else:
        job = start_job(client, "fail", {"message": unique()}, headers=ASYNC)
        doc, location = job.status, job.location
        output = "value"
    wait_status(client, location, state, timeout=20)
    return str(doc["jobID"]), output


def _task_ended(r: redis.Redis, job_id: str) -> Callable[[], bool]:
    """Whether the job's arq task is over (aborted, or ended and refused by the record)."""
    return lambda: not r.exists(f"arq:in-progress:{job_id}", f"arq:job:{job_id}")


@pytest.mark.parametrize("state", ["running", "successful", "failed"])
def test_a_dismissed_job_reads_the_same_whether_it_was_running_or_finished(
    client: httpx.Client, r: redis.Redis, key_prefix: str, state: str,
) -> None:
    job_id, output = _job_in(client, state)
    location = f"/jobs/{job_id}"
    dismissed = json_doc(client.delete(location), "statusInfo")
    assert (dismissed["status"], dismissed["jobID"]) == ("dismissed", job_id), dismissed
    wait_for(_task_ended(r, job_id), 30, "the job's task to end")

    status = json_doc(client.get(location), "statusInfo")
    assert status["status"] == "dismissed", status
    assert_exception(client.get(f"{location}/results"), 404, "no-such-job")
    assert_exception(client.get(f"{location}/results/{output}"), 404, "no-such-job")
    assert not r.exists(f"{key_prefix}:job:{job_id}:result")
    listed = client.get("/jobs", params={"status": "dismissed", "limit": 10_000}).json()
    assert job_id in [job["jobID"] for job in listed["jobs"]]


def test_a_dismissed_running_job_never_turns_successful_nor_stores_a_result(
    client: httpx.Client, r: redis.Redis, key_prefix: str,
) -> None:
    """The sleep is short, so the task may end by itself rather than be aborted: either
    way, once it is over the record still says dismissed and no result was stored."""
    job = start_job(client, "sleep", {"seconds": 1.0}, headers=ASYNC)
    doc, location = job.status, job.location
    job_id = doc["jobID"]
    wait_status(client, location, "running", timeout=10)
    assert json_doc(client.delete(location), "statusInfo")["status"] == "dismissed"
    wait_for(_task_ended(r, job_id), 30, "the job's task to end")
    assert json_doc(client.get(location), "statusInfo")["status"] == "dismissed"
    assert not r.exists(f"{key_prefix}:job:{job_id}:result"), "a dismissed job stored a result"


def test_dismissing_a_finished_job_removes_its_stored_outputs(
    client: httpx.Client, r: redis.Redis, key_prefix: str,
) -> None:
    job = start_job(client, "big_blob", {"megabytes": 2}, headers=ASYNC)
    doc, location = job.status, job.location
    wait_status(client, location, "successful", timeout=30)
    output = f"{key_prefix}:job:{doc['jobID']}:output:data"
    assert r.exists(output)
    assert json_doc(client.delete(location), "statusInfo")["status"] == "dismissed"
    assert not r.exists(output)
    assert_exception(client.get(f"{location}/results/data"), 404, "no-such-job")


def test_dismissing_a_failed_job_drops_its_error(
    client: httpx.Client, r: redis.Redis, key_prefix: str,
) -> None:
    job_id, _ = _job_in(client, "failed")
    assert r.hexists(f"{key_prefix}:job:{job_id}", "error")
    assert client.delete(f"/jobs/{job_id}").status_code == 200
    assert not r.hexists(f"{key_prefix}:job:{job_id}", "error")
    status = json_doc(client.get(f"/jobs/{job_id}"), "statusInfo")
    assert (status["status"], status["message"]) == ("dismissed", "dismissed"), status


@pytest.mark.parametrize("job_id", [uuid.uuid4().hex, unique("nobody")])
def test_dismissing_an_unknown_job_is_404_no_such_job(client: httpx.Client, job_id: str) -> None:
    assert_exception(client.delete(f"/jobs/{job_id}"), 404, "no-such-job")


@pytest.mark.parametrize("state", ["running", "successful"])
def test_dismissing_a_job_a_second_time_is_410_gone(client: httpx.Client, state: str) -> None:
    """OGC 18-062r2 clause 9.x: "Continued dismiss requests using the same identifier result
    in a HTTP 410 (Gone) error code, but nothing else is changed on the server"."""
    job_id, _ = _job_in(client, state)
    assert json_doc(client.delete(f"/jobs/{job_id}"), "statusInfo")["status"] == "dismissed"
    assert_exception(client.delete(f"/jobs/{job_id}"), 410)
    assert json_doc(client.get(f"/jobs/{job_id}"), "statusInfo")["status"] == "dismissed"
