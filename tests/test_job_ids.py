"""Job ids at the edge of every route that takes one: only the form the API makes names a
job; anything else (notably a real id with a key suffix such as `:result`) is 404
`no-such-job`, never a read of some other key."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from fastproc.store.record import is_job_id
from tests.e2e import ASYNC, assert_exception, media_type, show, unique, wait_status
from tests.support import start_job

HTML = {"Accept": "text/html"}

ROUTES: dict[str, Callable[[httpx.Client, str], httpx.Response]] = {
    "status": lambda c, j: c.get(f"/jobs/{j}"),
    "status page": lambda c, j: c.get(f"/jobs/{j}", headers=HTML),
    "results": lambda c, j: c.get(f"/jobs/{j}/results"),
    "results page": lambda c, j: c.get(f"/jobs/{j}/results", headers=HTML),
    "one output": lambda c, j: c.get(f"/jobs/{j}/results/value"),
    "events": lambda c, j: c.get(f"/jobs/{j}/events"),
    "dismiss": lambda c, j: c.delete(f"/jobs/{j}"),
    "dismiss form": lambda c, j: c.post(f"/jobs/{j}/dismiss", headers=HTML),
}


@pytest.fixture(scope="module")
def finished_job(client: httpx.Client) -> str:
    """A successful job: its result key `{p}:job:{id}:result` exists."""
    job = start_job(client, "echo", {"value": unique()}, headers=ASYNC)
    doc, location = job.status, job.location
    wait_status(client, location, "successful")
    return str(doc["jobID"])


def test_the_api_makes_job_ids_of_the_form_the_routes_accept(finished_job: str) -> None:
    assert is_job_id(finished_job), finished_job


@pytest.mark.parametrize("suffix", [":result", ":output:value", ":join:items"])
@pytest.mark.parametrize("route", list(ROUTES))
def test_an_id_with_a_key_suffix_is_no_such_job_on_every_route(
    client: httpx.Client, finished_job: str, route: str, suffix: str,
) -> None:
    response = ROUTES[route](client, finished_job + suffix)
    if route.endswith(("page", "form")):
        assert response.status_code == 404, show(response)
        assert media_type(response) == "text/html", show(response)
    else:
        assert_exception(response, 404, "no-such-job")


@pytest.mark.parametrize("job_id", ["x", "ABCDEF" * 5 + "AB", "0" * 31, "0" * 33, "g" * 32])
def test_ids_not_of_the_api_form_are_no_such_job(client: httpx.Client, job_id: str) -> None:
    for route in ("status", "results", "events", "dismiss"):
        assert_exception(ROUTES[route](client, job_id), 404, "no-such-job")


def test_the_job_itself_still_answers_on_every_route(
    client: httpx.Client, finished_job: str,
) -> None:
    assert client.get(f"/jobs/{finished_job}").json()["status"] == "successful"
    assert client.get(f"/jobs/{finished_job}/results/value").status_code == 200
    assert client.get(f"/jobs/{finished_job}/events").status_code == 200
