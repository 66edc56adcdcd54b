"""OGC API - Processes - Part 4, job management (draft 24-051): a job is created (`POST
/jobs`), updated while `created` (`PATCH /jobs/{id}`), started (`POST /jobs/{id}/results`),
read back (`GET /jobs/{id}/definition`) and re-run; hostile and careless callers meet clear
errors and never a half-started job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openapi_spec_validator
import pytest
import redis

from tests.e2e import assert_exception, unique, unique_int
from tests.support import Processes, Stack, start_job, wait_for, wait_job

PART4 = "http://www.opengis.net/def/exceptions/ogcapi-processes-4/1.0/"
EXECUTE_WORKFLOWS = ("https://schemas.opengis.net/ogcapi/processes/part3/1.0/openapi/"
                     "schemas/processes-workflows/execute-workflows.yaml")


def create(client: httpx.Client, definition: dict[str, Any], **headers: str) -> dict[str, Any]:
    """POST /jobs that must create a job: 201, Location, status `created`."""
    response = client.post("/jobs", json=definition, headers=headers)
    assert response.status_code == 201, response.text
    doc: dict[str, Any] = response.json()
    assert doc["status"] == "created", doc
    assert response.headers["location"].endswith(f"/jobs/{doc['jobID']}"), response.headers
    return doc


def echo(value: Any) -> dict[str, Any]:
    return {"process": "echo", "inputs": {"value": str(value)}}


def result_of(client: httpx.Client, job_id: str, output: str = "value") -> str:
    """The text of one output of the job, once it succeeded."""
    assert wait_job(client, job_id)["status"] == "successful"
    response = client.get(f"/jobs/{job_id}/results/{output}")
    assert response.status_code == 200, response.text
    return response.text.strip('"')


def test_a_created_job_waits_until_started_then_runs_its_definition(
        client: httpx.Client) -> None:
    value = unique()
    base = str(client.base_url).rstrip("/")
    definition = {"process": f"{base}/processes/echo", "inputs": {"value": value}}
    job = create(client, definition)
    job_id = job["jobID"]
    assert client.get(f"/jobs/{job_id}").json()["status"] == "created"
    listed = client.get("/jobs", params={"status": "created", "limit": 1000}).json()
    assert job_id in [j["jobID"] for j in listed["jobs"]]
    assert client.get(f"/jobs/{job_id}/definition").json() == definition

    started = client.post(f"/jobs/{job_id}/results")
    assert started.status_code == 200, started.text
    assert started.json()["jobID"] == job_id
    assert started.json()["status"] in ("accepted", "running", "successful")
    assert result_of(client, job_id) == value
    assert client.get(f"/jobs/{job_id}/definition").json() == definition


def test_an_update_replaces_the_members_it_gives(client: httpx.Client) -> None:
    job_id = create(client, echo("old"))["jobID"]
    new = unique()
    patched = client.patch(f"/jobs/{job_id}", json={"inputs": {"value": new}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "created"
    assert client.get(f"/jobs/{job_id}/definition").json() == echo(new)
    assert client.post(f"/jobs/{job_id}/results").status_code == 200
    assert result_of(client, job_id) == new


def test_a_job_definition_may_be_a_workflow(client: httpx.Client) -> None:
    a = unique_int(1000)
    job_id = create(client, {"process": "add", "inputs": {
        "a": {"process": "add", "inputs": {"a": a, "b": 1}}, "b": 1}})["jobID"]
    assert client.post(f"/jobs/{job_id}/results").status_code == 200
    assert float(result_of(client, job_id, "sum")) == a + 2


def test_media_type_and_schema_not_read_are_refused_with_part4_types(
        client: httpx.Client) -> None:
    response = client.post("/jobs", content=b"value=1",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    doc = assert_exception(response, 415)
    assert doc["type"] == PART4 + "unsupported-media-type"
    response = client.post("/jobs", json=echo(1), headers={"content-schema": "https://x/y.json"})
    assert response.status_code == 422, response.text
    assert response.json()["type"] == PART4 + "unsupported-schema"
    create(client, echo(1), **{"content-schema": EXECUTE_WORKFLOWS})


@pytest.mark.parametrize(("definition", "names"), [
    ({"inputs": {"value": 1}}, "process"),
    ({"process": "no-such-process-here", "inputs": {}}, "no-such-process-here"),
    ({"process": "https://elsewhere.example/processes/echo", "inputs": {}}, "process"),
    ({"process": "add", "inputs": {"a": "not a number", "b": 1}}, "a"),
    ({"process": "add", "inputs": {"a": {"process": "nope", "inputs": {}}, "b": 1}}, "inputs.a"),
    ({"process": "echo", "inputs": {"value": "1"}, "outputs": {"nope": {}}}, "nope"),
])
def test_an_invalid_definition_is_refused_and_nothing_is_stored(
        client: httpx.Client, r: redis.Redis, key_prefix: str, definition: dict[str, Any],
        names: str) -> None:
    before = r.zcard(f"{key_prefix}:jobs")
    response = client.post("/jobs", json=definition)
    assert_exception(response, 400, mentions=[names])
    assert r.zcard(f"{key_prefix}:jobs") == before


def test_an_invalid_update_changes_nothing(client: httpx.Client) -> None:
    job_id = create(client, echo("kept"))["jobID"]
    response = client.patch(f"/jobs/{job_id}", json={"process": "add",
                                                     "inputs": {"a": "x", "b": 1}})
    assert_exception(response, 400)
    assert client.get(f"/jobs/{job_id}/definition").json() == echo("kept")


def test_a_started_job_is_locked_and_a_second_start_is_no_second_run(
        client: httpx.Client) -> None:
    job_id = create(client, {"process": "sleep", "inputs": {"seconds": 30}})["jobID"]
    assert client.post(f"/jobs/{job_id}/results").status_code == 200
    again = client.post(f"/jobs/{job_id}/results")
    assert again.status_code == 423, again.text
    assert again.json()["type"] == PART4 + "locked"
    patched = client.patch(f"/jobs/{job_id}", json={"inputs": {"seconds": 1}})
    assert patched.status_code == 423, patched.text
    assert patched.json()["type"] == PART4 + "locked"
    assert client.delete(f"/jobs/{job_id}").status_code == 200


def test_a_finished_job_keeps_its_definition_and_can_be_rerun(client: httpx.Client) -> None:
    value = unique()
    done = start_job(client, "echo", {"value": value})
    wait_job(client, done.id)
    patched = client.patch(f"/jobs/{done.id}", json={"inputs": {"value": "other"}})
    assert patched.status_code == 409, patched.text
    definition = client.get(f"/jobs/{done.id}/definition").json()
    assert definition["inputs"] == {"value": value}
    assert definition["process"].endswith("/processes/echo")

    rerun = client.post(f"/jobs/{done.id}/rerun")
    assert rerun.status_code == 201, rerun.text
    again = rerun.json()["jobID"]
    assert again != done.id and rerun.json()["status"] == "created"
    assert client.post(f"/jobs/{again}/results").status_code == 200
    assert result_of(client, again) == value
    # The same through POST /jobs with the definition read back.
    copy = create(client, definition)["jobID"]
    assert client.post(f"/jobs/{copy}/results").status_code == 200
    assert result_of(client, copy) == value


def test_a_created_job_can_be_dismissed_and_is_then_never_started(
        client: httpx.Client) -> None:
    job_id = create(client, echo(1))["jobID"]
    assert client.delete(f"/jobs/{job_id}").json()["status"] == "dismissed"
    started = client.post(f"/jobs/{job_id}/results")
    assert started.status_code == 410, started.text
    assert client.get(f"/jobs/{job_id}").json()["status"] == "dismissed"


def _race_patch_and_start(api_url: str, job_id: str) -> dict[str, int]:
    """PATCH and start the job at once, from two connections; their status codes."""
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def patch() -> None:
        with httpx.Client(base_url=api_url, timeout=20) as own:
            barrier.wait()
            answers["patch"] = own.patch(f"/jobs/{job_id}",
                                         json={"inputs": {"value": "new"}}).status_code

    def start() -> None:
        with httpx.Client(base_url=api_url, timeout=20) as own:
            barrier.wait()
            answers["start"] = own.post(f"/jobs/{job_id}/results").status_code

    threads = [threading.Thread(target=patch), threading.Thread(target=start)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return answers


def test_a_patch_racing_a_start_has_one_winner_and_the_job_one_definition(
        client: httpx.Client, api_url: str) -> None:
    for _ in range(12):
        job_id = create(client, echo("old"))["jobID"]
        answers = _race_patch_and_start(api_url, job_id)
        assert answers["start"] == 200, answers
        # The update lost: the job was queued or running (423), or already finished (409).
        assert answers["patch"] in (200, 409, 423), answers
        expected = "new" if answers["patch"] == 200 else "old"
        assert result_of(client, job_id) == expected, answers


def test_concurrent_starts_run_the_job_once(client: httpx.Client, api_url: str,
                                            r: redis.Redis) -> None:
    job_id = create(client, {"process": "sleep", "inputs": {"seconds": 30}})["jobID"]
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def start() -> None:
        with httpx.Client(base_url=api_url, timeout=20) as own:
            barrier.wait()
            codes.append(own.post(f"/jobs/{job_id}/results").status_code)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(codes) == [200, 423, 423, 423], codes
    assert client.delete(f"/jobs/{job_id}").status_code == 200


# -- settings of their own: callers, TTL, limit ----------------------------------------------

@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_API_KEYS="alice:ka,bob:kb",
                       FASTPROC_CREATED_JOB_TTL="2", FASTPROC_MAX_CREATED_PER_CALLER="3")


@pytest.fixture(scope="module")
def own(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as opened:
        yield opened


ALICE = {"Authorization": "Bearer ka"}
BOB = {"Authorization": "Bearer kb"}


def test_another_caller_cannot_see_update_or_start_a_created_job(own: httpx.Client) -> None:
    job = own.post("/jobs", json=echo(1), headers=ALICE)
    assert job.status_code == 201, job.text
    job_id = job.json()["jobID"]
    for response in (own.get(f"/jobs/{job_id}/definition", headers=BOB),
                     own.patch(f"/jobs/{job_id}", json={"inputs": {"value": "2"}}, headers=BOB),
                     own.post(f"/jobs/{job_id}/results", headers=BOB),
                     own.post(f"/jobs/{job_id}/rerun", headers=BOB)):
        assert_exception(response, 404, "no-such-job")
    assert own.get(f"/jobs/{job_id}/definition", headers=ALICE).json() == echo(1)


def test_a_created_job_never_started_expires_and_leaves_no_key(
        own: httpx.Client, stack: Stack, r: redis.Redis) -> None:
    job = own.post("/jobs", json=echo(1), headers=BOB)
    assert job.status_code == 201, job.text
    job_id = job.json()["jobID"]
    key = f"{stack.prefix}:job:{job_id}"
    assert r.exists(key)
    wait_for(lambda: not r.keys(f"{stack.prefix}:job:{job_id}*"), 10, "the record to expire")
    assert_exception(own.get(f"/jobs/{job_id}", headers=BOB), 404, "no-such-job")
    assert job_id not in [j["jobID"] for j in own.get(
        "/jobs", params={"status": "created"}, headers=BOB).json()["jobs"]]


def test_created_jobs_per_caller_are_bounded(own: httpx.Client) -> None:
    wait_for(lambda: own.post("/jobs", json=echo(0), headers=ALICE).status_code == 429, 10,
             "alice's created jobs to reach the limit")
    refused = own.post("/jobs", json=echo(1), headers=ALICE)
    assert_exception(refused, 429)
    # Another caller is not held to alice's jobs; and a started job frees its place.
    assert own.post("/jobs", json=echo(1), headers=BOB).status_code == 201
    # Alice's created jobs expire (TTL 2 s): the limit frees itself.
    wait_for(lambda: own.post("/jobs", json=echo(2), headers=ALICE).status_code == 201, 10,
             "a place for alice once her created jobs expired")


def test_conformance_declares_job_management(client: httpx.Client) -> None:
    classes = client.get("/conformance").json()["conformsTo"]
    for name in ("job-management", "ogcapi-processes"):
        assert f"http://www.opengis.net/spec/ogcapi-processes-4/1.0/conf/{name}" in classes


def test_the_api_document_describes_job_management(client: httpx.Client) -> None:
    doc = client.get("/api").json()
    openapi_spec_validator.validate(doc)
    paths = doc["paths"]
    assert {"post"} <= set(paths["/jobs"])
    assert {"patch"} <= set(paths["/jobs/{job_id}"])
    assert {"post", "get"} <= set(paths["/jobs/{job_id}/results"])
    assert "get" in paths["/jobs/{job_id}/definition"]
    assert "post" in paths["/jobs/{job_id}/rerun"]


def test_a_created_job_is_listed_only_when_asked_for(client: httpx.Client) -> None:
    """`created` is no status of Part 1's jobList.yaml: a listing that does not ask for it
    (as a Part 1 client never does) leaves such jobs out, one that asks lists them."""
    job_id = create(client, echo(unique()))["jobID"]

    def listed(**params: Any) -> list[str]:
        doc = client.get("/jobs", params={"limit": 1000, **params}).json()
        return [j["jobID"] for j in doc["jobs"]]

    assert job_id not in listed()
    assert job_id not in listed(processID="echo")
    assert job_id in listed(status="created")
    assert client.delete(f"/jobs/{job_id}").status_code == 200


def test_an_update_cannot_change_the_process_of_a_job(client: httpx.Client) -> None:
    """Another process is another job: a PATCH naming one is refused and changes nothing
    (the job stays listed, and runs, as what it was created as)."""
    job_id = create(client, echo(unique()))["jobID"]
    before = client.get(f"/jobs/{job_id}/definition").json()
    patched = client.patch(f"/jobs/{job_id}", json={"process": "add",
                                                    "inputs": {"a": 1, "b": 2}})
    assert_exception(patched, 400, "InvalidParameterValue")
    assert "process" in patched.json()["detail"]
    assert client.get(f"/jobs/{job_id}/definition").json() == before
    listed = client.get("/jobs", params={"status": "created", "processID": "echo",
                                         "limit": 1000}).json()
    assert job_id in [j["jobID"] for j in listed["jobs"]]
    assert client.delete(f"/jobs/{job_id}").status_code == 200
