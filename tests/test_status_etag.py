"""`GET /jobs/{id}` answers a client that polls with 304 Not Modified while the job is
unchanged (ETag / If-None-Match), and with the new status, and a new ETag, once it changes."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.gated import Gates, step_gate
from tests.support import start_job, wait_for, wait_job


def _status(client: httpx.Client, job_id: str, etag: str | None = None) -> httpx.Response:
    headers = {"If-None-Match": etag} if etag else {}
    return client.get(f"/jobs/{job_id}", headers=headers)


def test_an_unchanged_job_answers_304_without_a_body(client: httpx.Client) -> None:
    job_id = start_job(client, "add", {"a": 2, "b": 3}).id
    wait_job(client, job_id)
    first = _status(client, job_id)
    assert first.status_code == 200 and first.json()["status"] == "successful"
    etag = first.headers["etag"]
    again = _status(client, job_id, etag)
    assert again.status_code == 304, again.text
    assert again.content == b""
    assert again.headers["etag"] == etag
    weak = _status(client, job_id, f'"other", W/{etag}')
    assert weak.status_code == 304, "a weak or listed validator matches too"


def test_a_job_that_changed_answers_its_new_status_and_etag(client: httpx.Client,
                                                             tmp_path: Path) -> None:
    gates = Gates(tmp_path / "gates")
    job_id = start_job(client, "stepwise", {"gate": gates.path, "steps": 1}).id
    try:
        running = wait_for(
            lambda: (r := _status(client, job_id)).json()["status"] == "running" and r,
            60, "the job to run")
        wait_for(lambda: gates.reached(step_gate(1)), 60, "the job to wait at its gate")
    finally:
        gates.open_all()
    wait_job(client, job_id)
    answer = _status(client, job_id, running.headers["etag"])
    assert answer.status_code == 200
    assert answer.json()["status"] == "successful"
    assert answer.headers["etag"] != running.headers["etag"]


def test_an_unknown_job_is_404_whatever_the_validator(client: httpx.Client) -> None:
    response = client.get(f"/jobs/{'0' * 32}", headers={"If-None-Match": "*"})
    assert response.status_code == 404
    assert response.json()["type"].endswith("/no-such-job")
