"""Asynchronous execution (OGC API - Processes 1.0, 7.11-7.13): job creation, status
polling, progress, results and failures."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.e2e import (
    ASYNC,
    REL_RESULTS,
    assert_exception,
    json_doc,
    links_by_rel,
    media_type,
    multipart_parts,
    one_link,
    part_bytes,
    poll_status,
    show,
    unique,
    unique_int,
    wait_status,
)
from tests.gated import Gates, step_gate, step_message
from tests.support import start_job, wait_for


def test_prefer_respond_async_creates_a_job_at_its_location(client: httpx.Client) -> None:
    value = unique("async")
    job = start_job(client, "echo", {"value": value})
    assert job.response.headers.get("preference-applied") == "respond-async", \
        show(job.response)
    assert job.status["status"] == "accepted", job.status
    assert job.status["type"] == "process"
    assert one_link(job.status, "self")["href"] == job.location
    status = json_doc(client.get(job.location), "statusInfo")
    assert status["jobID"] == job.id
    assert status["processID"] == "echo"


def test_async_job_ends_successful_and_its_results_are_the_raw_output(
    client: httpx.Client,
) -> None:
    value = unique("async-result")
    location = start_job(client, "echo", {"value": value}, outputs={"value": {}}).location
    done = wait_status(client, location, "successful")
    assert done["progress"] == 100, done
    for member in ("created", "started", "finished"):
        assert member in done, done
    assert done["created"] <= done["started"] <= done["finished"], done
    results_link = one_link(done, REL_RESULTS)
    assert results_link["href"] == f"{location}/results"
    results = client.get(results_link["href"])
    assert results.status_code == 200, show(results)
    assert media_type(results) == "text/plain"
    assert results.text == value


def test_async_document_results_are_a_results_document(client: httpx.Client) -> None:
    a = unique_int()
    location = start_job(client, "add", {"a": a, "b": 0.5}, response="document").location
    wait_status(client, location, "successful")
    assert json_doc(client.get(f"{location}/results"), "results") == {"sum": a + 0.5}


def test_async_raw_results_of_several_outputs_are_multipart(client: httpx.Client) -> None:
    base = float(unique_int())
    location = start_job(client, "number_stats", {"numbers": [base, base + 2]}).location
    wait_status(client, location, "successful")
    response = client.get(f"{location}/results")
    assert response.status_code == 200, show(response)
    assert media_type(response) == "multipart/related", show(response)
    values = {p["Content-ID"].strip("<>"): json.loads(part_bytes(p))
              for p in multipart_parts(response)}
    assert values == {"count": 2, "minimum": base, "maximum": base + 2, "mean": base + 1}


def test_async_result_of_a_cached_computation_is_still_a_job(client: httpx.Client) -> None:
    """A second identical request may be answered from the cache, but async still means
    201 with a job whose results can be fetched."""
    x = unique_int()
    for _ in range(2):
        location = start_job(client, "multiply", {"x": x, "y": 2}, headers=ASYNC,
                             response="document").location
        wait_status(client, location, "successful")
        assert json_doc(client.get(f"{location}/results"), "results") == {"product": 2 * x}


def test_mode_async_body_member_executes_asynchronously(client: httpx.Client) -> None:
    value = unique("mode-async")
    job = start_job(client, "echo", {"value": value}, headers={}, mode="async",
                    outputs={"value": {}})
    wait_status(client, job.location, "successful")
    assert client.get(f"{job.location}/results").text == value
    assert job.status["status"] == "accepted", job.status


def test_async_only_sleep_executes_asynchronously_without_prefer(client: httpx.Client) -> None:
    job = start_job(client, "sleep", {"seconds": 0.1}, headers={})
    assert job.status["status"] == "accepted", job.status
    wait_status(client, job.location, "successful")
    results = client.get(f"{job.location}/results")
    assert results.status_code == 200, show(results)
    assert results.json() == 0.1


def test_a_running_job_reports_progress_between_0_and_100(client: httpx.Client,
                                                          tmp_path: Path) -> None:
    gates = Gates(tmp_path / "gates")
    location = start_job(client, "stepwise", {"gate": gates.path, "steps": 2}).location
    try:
        gates.open(step_gate(1))  # the job then reports step 2 (50 %) and waits at its gate
        running = poll_status(
            client, location,
            lambda d: d["status"] == "running" and 0 < d.get("progress", 0) < 100,
            timeout=60, what="progress between 0 and 100 while running",
        )
        assert running["message"] == step_message(2, 2), running
    finally:
        gates.open_all()
    done = wait_status(client, location, "successful", timeout=60)
    assert done["progress"] == 100


def test_results_of_a_running_job_are_404_result_not_ready(client: httpx.Client,
                                                           tmp_path: Path) -> None:
    gates = Gates(tmp_path / "gates")
    location = start_job(client, "stepwise", {"gate": gates.path, "steps": 1}).location
    try:
        wait_for(lambda: gates.reached(step_gate(1)), 60, "the job to wait at its gate")
        response = client.get(f"{location}/results")
        assert_exception(response, 404, "result-not-ready")
        assert json_doc(client.get(location), "statusInfo")["status"] == "running"
    finally:
        gates.open_all()
    wait_status(client, location, "successful", timeout=60)
    assert client.get(f"{location}/results").json() == 1


def test_failed_job_has_status_failed_and_its_results_are_its_error(
    client: httpx.Client,
) -> None:
    message = unique("async failure")
    location = start_job(client, "fail", {"message": message}).location
    failed = wait_status(client, location, "failed")
    assert failed.get("message") == message, failed
    assert not links_by_rel(failed, REL_RESULTS), failed["links"]
    response = client.get(f"{location}/results")
    assert response.status_code >= 400, show(response)
    doc = assert_exception(response, response.status_code)
    assert doc["detail"] == message, doc
    assert doc["type"].startswith("http"), doc


def test_failed_job_output_link_is_an_exception_too(client: httpx.Client) -> None:
    location = start_job(client, "fail", {"message": unique("x")}).location
    wait_status(client, location, "failed")
    response = client.get(f"{location}/results/result")
    assert response.status_code >= 400, show(response)
    assert_exception(response, response.status_code)


def test_results_of_an_unknown_output_of_a_finished_job_are_404(client: httpx.Client) -> None:
    location = start_job(client, "echo", {"value": unique()}).location
    wait_status(client, location, "successful")
    assert_exception(client.get(f"{location}/results/nope"), 404, mentions=["nope"])


def test_async_execution_with_prefer_among_other_preferences(client: httpx.Client) -> None:
    headers = {"Prefer": "handling=lenient, respond-async, wait=10"}
    location = start_job(client, "echo", {"value": unique()}, headers=headers).location
    wait_status(client, location, "successful")


def test_prefer_respond_async_is_honoured_for_a_body_posted_twice(client: httpx.Client) -> None:
    body = {"inputs": {"value": unique("twice")}}
    first = client.post("/processes/echo/execution", json=body, headers=ASYNC)
    second = client.post("/processes/echo/execution", json=body, headers=ASYNC)
    assert first.status_code == second.status_code == 201, (show(first), show(second))
    assert first.json()["jobID"] != second.json()["jobID"]


def test_png_results_can_be_fetched_asking_for_image_png(client: httpx.Client) -> None:
    """A client that asks for the media type the output is in gets it, not 406."""
    location = start_job(client, "solid_png", {"width": 1 + unique_int(3000), "height": 1}
                         ).location
    wait_status(client, location, "successful")
    for url in (f"{location}/results", f"{location}/results/image"):
        response = client.get(url, headers={"Accept": "image/png"})
        assert response.status_code == 200, show(response)
        assert media_type(response) == "image/png", show(response)
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_csv_results_can_be_fetched_asking_for_text_csv(client: httpx.Client) -> None:
    location = start_job(client, "squares_csv", {"n": 3}).location
    wait_status(client, location, "successful")
    response = client.get(f"{location}/results", headers={"Accept": "text/csv"})
    assert response.status_code == 200, show(response)
    assert response.text == "n,square\n0,0\n1,1\n2,4\n"
