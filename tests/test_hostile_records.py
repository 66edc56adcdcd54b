"""Job records the API did not write as it writes them (another version's, one edited by
hand, a damaged one) never make a route answer 500: a listing skips a record without a
state it can read, and lists the others; a job's own routes answer with what can be read
(a field that cannot be read is left out, an error that is not an object is its detail),
or, with no state to read, 404 no-such-job. Records are written straight into the real
Valkey: as `JobStore.create` writes them, then with fields spoiled."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from fastproc.store.job_store import JobStore
from fastproc.store.record import NODES_MEMBER, PARTS_MEMBER
from fastproc.wire.keys import Keys
from tests.e2e import assert_exception, json_doc, show
from tests.support import Processes, Stack

PROCESS = "echo"
RESULT = orjson.dumps({"value": {"value": "still here"}})
#: Spoiled fields of a record, by case.
SPOILED: dict[str, dict[str, str | bytes]] = {
    "status": {"status": "bogus"},
    "progress": {"status": "running", "progress": "abc"},
    "progress overflowing": {"status": "running", "progress": "1e400"},
    "progress out of range": {"status": "running", "progress": "-7"},
    "error as text": {"status": "failed", "error": "it broke {not json"},
    "error as a list": {"status": "failed", "error": "[1, 2]"},
    "error members": {"status": "failed",
                      "error": '{"type": 5, "status": "abc", "title": [1], "detail": "typed"}'},
    "error status": {"status": "failed", "error": '{"status": 99999, "detail": "no status"}'},
    "parts": {"status": "running", "parts_done": "x", "parts_total": "y"},
    "parts beyond": {"status": "running", "parts_done": "9", "parts_total": "3"},
    "nodes": {"status": "running", "nodes_done": "3", "nodes_total": "-1"},
    "dates": {"status": "running", "created": "yesterday", "started": "2024-01-01T00:00:00",
              "updated": "2024-13-45T99:00:00Z"},
    "request": {"request": "{not json"},
    "request not an object": {"request": "[1]"},
    "bytes": {"message": b"\xff\xfe not utf-8", "processID": b"ech\xffo"},
}
#: Cases written as successful jobs with a result (the others have none).
WITH_RESULT = {"request", "request not an object", "bytes"}


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix)


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as c:
        yield c


@pytest.fixture(scope="module")
def records(stack: Stack, redis_url: str, r: redis.Redis) -> dict[str, str]:
    """Job ids by case: each a record as the API writes it, then spoiled."""
    ids = {case: uuid.uuid4().hex for case in SPOILED}

    async def create() -> None:
        client = AsyncRedis.from_url(redis_url)
        store = JobStore(client, Keys(stack.prefix), job_ttl=3600, active_ttl=3600)
        try:
            for case, job_id in ids.items():
                await store.create(job_id, PROCESS, {"inputs": {"value": case}},
                                   cached_result=RESULT if case in WITH_RESULT else None)
        finally:
            await client.aclose()

    asyncio.run(create())
    keys = Keys(stack.prefix)
    for case, job_id in ids.items():
        r.hset(keys.job(job_id), mapping=SPOILED[case])
    return ids


def _status(client: httpx.Client, job_id: str, **params: str) -> dict[str, Any]:
    doc: dict[str, Any] = json_doc(client.get(f"/jobs/{job_id}", params=params), "statusInfo")
    return doc


def test_a_listing_skips_a_record_without_a_state_and_lists_the_others(
        client: httpx.Client, records: dict[str, str]) -> None:
    listed = json_doc(client.get("/jobs", params={"limit": 100}), "jobList")
    ids = {job["jobID"] for job in listed["jobs"]}
    assert ids == {job_id for case, job_id in records.items() if case != "status"}
    filtered = [{"minDuration": "0"}, {"maxDuration": "100000000"},
                {"datetime": "2000-01-01T00:00:00Z/.."}, {"status": "failed"},
                {"processID": PROCESS}]
    for params in filtered:
        json_doc(client.get("/jobs", params=params), "jobList")
    page = client.get("/jobs", params={"f": "html"})
    assert page.status_code == 200, show(page)


def test_a_record_without_a_state_is_no_such_job_on_every_route(
        client: httpx.Client, records: dict[str, str]) -> None:
    job = f"/jobs/{records['status']}"
    for path, params in [(job, {}), (job, {"f": "json"}), (f"{job}/results", {}),
                         (f"{job}/results", {"f": "json"}), (f"{job}/logs", {}),
                         (f"{job}/nodes", {}), (f"{job}/events", {})]:
        assert_exception(client.get(path, params=params), 404, "no-such-job",
                         mentions=["cannot be read"])
    for path in (job, f"{job}/results"):
        page = client.get(path, params={"f": "html"})
        assert page.status_code == 404, show(page)
    assert_exception(client.delete(job), 404, "no-such-job")


def test_a_job_answers_with_the_fields_that_can_be_read(
        client: httpx.Client, records: dict[str, str]) -> None:
    for case, job_id in records.items():
        if case == "status":
            continue
        doc = _status(client, job_id)
        assert doc["jobID"] == job_id, case
        page = client.get(f"/jobs/{job_id}", params={"f": "html"})
        assert page.status_code == 200, f"{case}: {show(page)}"
    for case in ("progress", "progress overflowing", "progress out of range"):
        assert "progress" not in _status(client, records[case]), case
    for case in ("parts", "parts beyond"):
        assert PARTS_MEMBER not in _status(client, records[case]), case
    assert NODES_MEMBER not in _status(client, records["nodes"])
    dates = _status(client, records["dates"])
    assert not {"created", "started", "updated"} & dates.keys(), dates
    spoiled = _status(client, records["bytes"])
    assert spoiled["message"] == "\ufffd\ufffd not utf-8", spoiled


def test_a_failed_jobs_unreadable_error_is_answered_with_what_it_says(
        client: httpx.Client, records: dict[str, str]) -> None:
    def failure(case: str) -> dict[str, Any]:
        return assert_exception(client.get(f"/jobs/{records[case]}/results"), 500,
                                "job-failed")

    assert failure("error as text")["detail"] == "it broke {not json"
    assert failure("error as a list")["detail"] == "[1, 2]"
    assert failure("error members")["detail"] == "typed"
    assert failure("error status")["detail"] == "no status"
    for case in ("error as text", "error members"):
        page = client.get(f"/jobs/{records[case]}", params={"f": "html"})
        assert page.status_code == 200, show(page)


def test_results_whose_request_cannot_be_read_are_sent_as_stored(
        client: httpx.Client, records: dict[str, str]) -> None:
    for case in WITH_RESULT:
        results = f"/jobs/{records[case]}/results"
        answer = client.get(results)
        assert answer.status_code == 200, f"{case}: {show(answer)}"
        assert answer.text == "still here", case
        page = client.get(results, params={"f": "html"})
        assert page.status_code == 200, f"{case}: {show(page)}"
        assert "still here" in page.text, case
