"""`/jobs` and `/jobs/{id}` (OGC API - Processes 1.0, 7.12 and the job-list class, clause 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.e2e import (
    ASYNC,
    assert_exception,
    follow_pages,
    json_doc,
    links_by_rel,
    one_link,
    unique,
    unique_int,
    wait_finished,
    wait_status,
)
from tests.support import start_job


def job_ids(client: httpx.Client, **params: Any) -> list[str]:
    """The ids of every job the list selects (one page, as large as the server allows)."""
    doc = json_doc(client.get("/jobs", params={"limit": 10_000, **params}), "jobList")
    assert not links_by_rel(doc, "next"), doc["links"]
    return [job["jobID"] for job in doc["jobs"]]


def finished_job(client: httpx.Client, process_id: str, inputs: dict[str, Any]
                 ) -> dict[str, Any]:
    location = start_job(client, process_id, inputs, headers=ASYNC).location
    return wait_finished(client, location)


def instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def test_job_list_is_valid_and_shows_a_new_job(client: httpx.Client) -> None:
    created = start_job(client, "echo", {"value": unique()}, headers=ASYNC).status
    doc = json_doc(client.get("/jobs", params={"processID": "echo"}), "jobList")
    one_link(doc, "self")
    mine = [job for job in doc["jobs"] if job["jobID"] == created["jobID"]]
    assert len(mine) == 1, doc["jobs"]
    for job in doc["jobs"]:
        assert job["processID"] == "echo", job  # /req/job-list/processID-mandatory


def test_job_status_of_a_finished_job_has_its_timestamps_in_order(client: httpx.Client) -> None:
    done = finished_job(client, "add", {"a": unique_int(), "b": 1})
    assert done["status"] == "successful"
    stamps = [datetime.fromisoformat(done[k]) for k in ("created", "started", "finished")]
    assert stamps == sorted(stamps), done
    assert all(stamp.tzinfo is not None for stamp in stamps), done


def test_job_list_filters_by_process_id(client: httpx.Client) -> None:
    add = finished_job(client, "add", {"a": unique_int(), "b": 2})
    echo = finished_job(client, "echo", {"value": unique()})
    doc = json_doc(client.get("/jobs", params={"processID": "add", "limit": 10_000}), "jobList")
    ids = [job["jobID"] for job in doc["jobs"]]
    assert add["jobID"] in ids
    assert echo["jobID"] not in ids
    assert {job["processID"] for job in doc["jobs"]} == {"add"}


@pytest.mark.parametrize("params", [
    pytest.param([("processID", "add"), ("processID", "echo")], id="repeated"),
    pytest.param([("processID", "add,echo")], id="comma-separated"),
])
def test_job_list_takes_several_process_ids(
    client: httpx.Client, params: list[tuple[str, str]],
) -> None:
    add = finished_job(client, "add", {"a": unique_int(), "b": 3})
    echo = finished_job(client, "echo", {"value": unique()})
    fail = finished_job(client, "fail", {"message": unique()})
    doc = json_doc(client.get("/jobs", params=[*params, ("limit", "10000")]), "jobList")
    ids = {job["jobID"] for job in doc["jobs"]}
    assert {add["jobID"], echo["jobID"]} <= ids
    assert fail["jobID"] not in ids
    assert {job["processID"] for job in doc["jobs"]} == {"add", "echo"}


def test_job_list_filters_by_status(client: httpx.Client) -> None:
    failed = finished_job(client, "fail", {"message": unique()})
    succeeded = finished_job(client, "echo", {"value": unique()})
    assert (failed["status"], succeeded["status"]) == ("failed", "successful")
    doc = json_doc(client.get("/jobs", params={"status": "failed", "limit": 10_000}), "jobList")
    assert {job["status"] for job in doc["jobs"]} == {"failed"}
    ids = {job["jobID"] for job in doc["jobs"]}
    assert failed["jobID"] in ids and succeeded["jobID"] not in ids
    both = set(job_ids(client, status=["failed", "successful"]))
    assert {failed["jobID"], succeeded["jobID"]} <= both


def test_job_list_filters_by_status_and_process_together(client: httpx.Client) -> None:
    failed = finished_job(client, "fail", {"message": unique()})
    finished_job(client, "echo", {"value": unique()})
    doc = json_doc(client.get("/jobs", params={"status": "failed", "processID": "fail",
                                               "limit": 10_000}), "jobList")
    assert failed["jobID"] in {job["jobID"] for job in doc["jobs"]}
    assert {(job["processID"], job["status"]) for job in doc["jobs"]} == {("fail", "failed")}


def test_job_list_limit_caps_the_page_and_links_the_next(client: httpx.Client) -> None:
    for _ in range(2):
        finished_job(client, "echo", {"value": unique()})
    doc = json_doc(client.get("/jobs", params={"limit": 1}), "jobList")
    assert len(doc["jobs"]) == 1
    assert "limit=1" in one_link(doc, "next")["href"]
    assert not links_by_rel(doc, "prev")


def test_following_job_list_next_links_visits_every_job_exactly_once(
    client: httpx.Client,
) -> None:
    for _ in range(5):
        finished_job(client, "squares_csv", {"n": unique_int(100_000)})
    everything = job_ids(client, processID="squares_csv")
    assert len(everything) >= 5
    pages = follow_pages(client, "/jobs?processID=squares_csv&limit=2", "jobList", "jobs", 2)
    seen = [job["jobID"] for page in pages for job in page]
    assert {job["processID"] for page in pages for job in page} <= {"squares_csv"}
    assert seen == everything
    assert len(seen) == len(set(seen))


def test_unknown_job_is_404_no_such_job(client: httpx.Client) -> None:
    assert_exception(client.get("/jobs/x"), 404, "no-such-job")


def test_results_of_an_unknown_job_are_404_no_such_job(client: httpx.Client) -> None:
    assert_exception(client.get("/jobs/x/results"), 404, "no-such-job")
    assert_exception(client.get(f"/jobs/{unique()}/results/value"), 404, "no-such-job")


def test_job_list_type_process_lists_process_jobs(client: httpx.Client) -> None:
    done = finished_job(client, "echo", {"value": unique()})
    assert done["jobID"] in job_ids(client, type="process", processID="echo")


def test_job_list_of_another_type_lists_no_process_jobs(client: httpx.Client) -> None:
    finished_job(client, "echo", {"value": unique()})
    assert job_ids(client, type="openeo") == []


def test_job_list_datetime_interval_around_creation_selects_the_job(
    client: httpx.Client,
) -> None:
    done = finished_job(client, "echo", {"value": unique()})
    created = datetime.fromisoformat(done["created"])
    inside = f"{instant(created - timedelta(seconds=5))}/{instant(created + timedelta(seconds=5))}"
    assert done["jobID"] in job_ids(client, processID="echo", datetime=inside)
    assert done["jobID"] in job_ids(client, processID="echo",
                                    datetime=f"{instant(created - timedelta(seconds=5))}/..")
    assert done["jobID"] in job_ids(client, processID="echo",
                                    datetime=f"../{instant(created + timedelta(seconds=5))}")


def test_job_list_datetime_instant_of_creation_selects_the_job(client: httpx.Client) -> None:
    done = finished_job(client, "echo", {"value": unique()})
    assert done["jobID"] in job_ids(client, processID="echo", datetime=done["created"])


def test_job_list_datetime_interval_before_or_after_creation_excludes_the_job(
    client: httpx.Client,
) -> None:
    done = finished_job(client, "echo", {"value": unique()})
    created = datetime.fromisoformat(done["created"])
    hour = timedelta(hours=1)
    for value in (f"../{instant(created - hour)}", f"{instant(created + hour)}/..",
                  f"{instant(created - 2 * hour)}/{instant(created - hour)}"):
        assert done["jobID"] not in job_ids(client, processID="echo", datetime=value), value


def test_job_list_datetime_start_at_the_whole_second_of_creation_selects_the_job(
    client: httpx.Client,
) -> None:
    """A job created at 12:00:07.250 was created after 12:00:07 (RFC 3339 instants compare
    as times, not as strings)."""
    done = finished_job(client, "echo", {"value": unique()})
    created = datetime.fromisoformat(done["created"])
    second = created.replace(microsecond=0).astimezone(UTC)
    start = second.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert done["jobID"] in job_ids(client, processID="echo", datetime=f"{start}/.."), \
        f"created {done['created']} is not selected by datetime={start}/.."


def test_job_list_datetime_in_another_time_zone_selects_the_job(client: httpx.Client) -> None:
    done = finished_job(client, "echo", {"value": unique()})
    created = datetime.fromisoformat(done["created"])
    plus_two = timezone(timedelta(hours=2))
    start = (created - timedelta(minutes=1)).astimezone(plus_two).isoformat()
    end = (created + timedelta(minutes=1)).astimezone(plus_two).isoformat()
    assert done["jobID"] in job_ids(client, processID="echo", datetime=f"{start}/{end}"), \
        f"created {done['created']} is not selected by datetime={start}/{end}"


@pytest.mark.parametrize("value", ["not-a-date", "2024-01-01T00:00:00Z/garbage", "yesterday/.."])
def test_job_list_invalid_datetime_is_400(client: httpx.Client, value: str) -> None:
    assert_exception(client.get("/jobs", params={"datetime": value}), 400)


def test_job_list_duration_filters_select_by_run_time(client: httpx.Client) -> None:
    done = finished_job(client, "echo", {"value": unique()})
    assert done["jobID"] in job_ids(client, processID="echo", maxDuration=60)
    assert done["jobID"] not in job_ids(client, processID="echo", minDuration=60)


def test_running_job_is_listed_as_running(client: httpx.Client) -> None:
    location = start_job(client, "sleep", {"seconds": 2}, headers=ASYNC).location
    running = wait_status(client, location, "running", timeout=10)
    assert running["jobID"] in job_ids(client, processID="sleep", status="running")
    wait_status(client, location, "successful")


def test_method_not_allowed_names_every_method_of_the_resource(client: httpx.Client) -> None:
    response = client.put("/jobs/some-job")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PATCH"  # PATCH: Part 4 job management
    assert response.json()["type"].endswith("/method-not-allowed")
