"""Synchronous execution (OGC API - Processes 1.0, 7.11): raw and document responses,
outputs by value and by reference, output selection, and the execution styles of processes."""

from __future__ import annotations

import base64
import json
import struct
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.e2e import (
    ASYNC,
    REL_RESULTS,
    assert_exception,
    json_doc,
    media_type,
    multipart_parts,
    part_bytes,
    response_links,
    show,
    unique,
    unique_int,
    wait_status,
)
from tests.gated import Gates
from tests.support import start_job, wait_for

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STATS = ("count", "minimum", "maximum", "mean")


def execute(client: httpx.Client, process_id: str, body: dict[str, Any],
            headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(f"/processes/{process_id}/execution", json=body, headers=headers)


def numbers() -> tuple[list[float], dict[str, float]]:
    """A list no other test sends, and its statistics."""
    base = float(unique_int())
    values = [base, base + 1.5, base + 6.0]
    return values, {"count": 3, "minimum": base, "maximum": base + 6.0, "mean": base + 2.5}


def test_echo_raw_single_output_is_the_text_itself(client: httpx.Client) -> None:
    value = unique("echo")
    response = execute(client, "echo", {"inputs": {"value": value}, "outputs": {"value": {}}})
    assert response.status_code == 200, show(response)
    assert media_type(response) == "text/plain", show(response)
    assert response.text == value


def test_echo_keeps_unicode_text_unchanged(client: httpx.Client) -> None:
    value = unique("Grüße ✓ 😀 \n\t \"quoted\"")
    response = execute(client, "echo", {"inputs": {"value": value}, "outputs": {"value": {}}})
    assert response.status_code == 200, show(response)
    assert response.content.decode("utf-8") == value


def test_qualified_input_value_is_unwrapped(client: httpx.Client) -> None:
    value = unique("qualified")
    body = {"inputs": {"value": {"value": value, "mediaType": "text/plain"}},
            "outputs": {"value": {}}}
    response = execute(client, "echo", body)
    assert response.status_code == 200, show(response)
    assert response.text == value


def test_solid_png_raw_output_is_png_bytes_of_the_requested_size(client: httpx.Client) -> None:
    width, height = 3 + unique_int(200), 2 + unique_int(100)
    body = {"inputs": {"width": width, "height": height, "color": "#ff8800"}}
    response = execute(client, "solid_png", body)
    assert response.status_code == 200, show(response)
    assert media_type(response) == "image/png", show(response)
    assert response.content.startswith(PNG_SIGNATURE)
    assert response.content[12:16] == b"IHDR"
    assert struct.unpack(">II", response.content[16:24]) == (width, height)


def test_solid_png_defaults_apply_when_inputs_are_omitted(client: httpx.Client) -> None:
    response = execute(client, "solid_png", {"inputs": {}})
    assert response.status_code == 200, show(response)
    assert media_type(response) == "image/png"
    assert struct.unpack(">II", response.content[16:24]) == (16, 16)


def test_squares_csv_raw_output_is_a_text_csv_table(client: httpx.Client) -> None:
    response = execute(client, "squares_csv", {"inputs": {"n": 4}})
    assert response.status_code == 200, show(response)
    assert media_type(response) == "text/csv", show(response)
    assert response.text == "n,square\n0,0\n1,1\n2,4\n3,9\n"


def test_add_document_response_is_a_results_document(client: httpx.Client) -> None:
    a, b = unique_int(), 0.25
    response = execute(client, "add", {"inputs": {"a": a, "b": b}, "response": "document"})
    assert json_doc(response, "results") == {"sum": a + b}


def test_add_raw_response_is_the_json_number(client: httpx.Client) -> None:
    a = unique_int()
    response = execute(client, "add", {"inputs": {"a": a, "b": 2}, "response": "raw"})
    assert response.status_code == 200, show(response)
    assert media_type(response) == "application/json", show(response)
    assert response.json() == a + 2


def test_number_stats_raw_is_multipart_related_with_one_part_per_output(
    client: httpx.Client,
) -> None:
    values, expected = numbers()
    response = execute(client, "number_stats", {"inputs": {"numbers": values}})
    assert response.status_code == 200, show(response)
    assert media_type(response) == "multipart/related", show(response)
    parts = multipart_parts(response)
    by_id = {part["Content-ID"].strip("<>"): part for part in parts}
    assert set(by_id) == set(STATS), [p["Content-ID"] for p in parts]
    for name, value in expected.items():
        part = by_id[name]
        assert part.get_content_type() == "application/json", part.items()
        assert json.loads(part_bytes(part)) == value, name
    # Parts held in the result document go out as one body of known length, not chunked.
    assert response.headers.get("content-length") == str(len(response.content))
    assert "transfer-encoding" not in response.headers


def test_number_stats_document_holds_every_output(client: httpx.Client) -> None:
    values, expected = numbers()
    response = execute(client, "number_stats",
                       {"inputs": {"numbers": values}, "response": "document"})
    assert json_doc(response, "results") == expected


def test_number_stats_of_no_numbers_gives_null_outputs(client: httpx.Client) -> None:
    response = execute(client, "number_stats", {"inputs": {"numbers": []}, "response": "document"})
    # results.yaml has no way to spell null (inputValue.yaml allows no "null" type), so this
    # one document is checked by hand instead of against the schema.
    doc = json_doc(response, None)
    assert doc["count"] == 0
    for name in ("minimum", "maximum", "mean"):
        assert name in doc and doc[name] in (None, {"value": None}), doc


def test_outputs_member_selects_a_subset_for_the_document(client: httpx.Client) -> None:
    values, expected = numbers()
    body = {"inputs": {"numbers": values}, "outputs": {"mean": {}, "count": {}},
            "response": "document"}
    doc = json_doc(execute(client, "number_stats", body), "results")
    assert doc == {"mean": expected["mean"], "count": expected["count"]}


def test_raw_with_one_selected_output_is_that_output_alone(client: httpx.Client) -> None:
    values, expected = numbers()
    body = {"inputs": {"numbers": values}, "outputs": {"maximum": {}}, "response": "raw"}
    response = execute(client, "number_stats", body)
    assert response.status_code == 200, show(response)
    assert media_type(response) == "application/json", show(response)
    assert response.json() == expected["maximum"]


def test_binary_output_in_a_document_is_a_base64_qualified_value(client: httpx.Client) -> None:
    body = {"inputs": {"width": 1 + unique_int(500), "height": 1}, "response": "document"}
    doc = json_doc(execute(client, "solid_png", body), "results")
    image = doc["image"]
    assert image["mediaType"] == "image/png", image
    assert image["encoding"] == "base64", image
    assert base64.b64decode(image["value"]).startswith(PNG_SIGNATURE)


def test_reference_outputs_in_a_document_are_links_to_the_job_results(
    client: httpx.Client,
) -> None:
    values, expected = numbers()
    body = {"inputs": {"numbers": values}, "response": "document",
            "outputs": {"mean": {"transmissionMode": "reference"},
                        "count": {"transmissionMode": "value"}}}
    doc = json_doc(execute(client, "number_stats", body), "results")
    assert set(doc) == {"mean", "count"}
    assert doc["count"] == expected["count"]
    link = doc["mean"]
    assert isinstance(link, dict) and "href" in link, doc
    assert "/jobs/" in link["href"] and link["href"].endswith("/results/mean"), link
    fetched = client.get(link["href"])
    assert fetched.status_code == 200, show(fetched)
    assert media_type(fetched) == "application/json", show(fetched)
    assert fetched.json() == expected["mean"]


def test_reference_links_work_when_the_result_comes_from_the_cache(client: httpx.Client) -> None:
    x = unique_int()
    body = {"inputs": {"x": x, "y": 5}, "response": "document",
            "outputs": {"product": {"transmissionMode": "reference"}}}
    hrefs = []
    for _ in range(2):  # the second identical request may be answered from the cache
        doc = json_doc(execute(client, "multiply", body), "results")
        hrefs.append(doc["product"]["href"])
        fetched = client.get(doc["product"]["href"])
        assert fetched.status_code == 200, show(fetched)
        assert fetched.json() == 5 * x
    assert hrefs[0] != hrefs[1], "two executions answered with one job's link"

def test_reference_to_a_binary_output_fetches_the_bytes(client: httpx.Client) -> None:
    width = 1 + unique_int(900)
    body = {"inputs": {"width": width, "height": 2}, "response": "document",
            "outputs": {"image": {"transmissionMode": "reference"}}}
    doc = json_doc(execute(client, "solid_png", body), "results")
    fetched = client.get(doc["image"]["href"])
    assert fetched.status_code == 200, show(fetched)
    assert media_type(fetched) == "image/png"
    assert struct.unpack(">II", fetched.content[16:24]) == (width, 2)


def test_raw_with_every_output_by_reference_is_204_with_link_headers(
    client: httpx.Client,
) -> None:
    values, expected = numbers()
    body = {"inputs": {"numbers": values}, "response": "raw",
            "outputs": {name: {"transmissionMode": "reference"} for name in STATS}}
    response = execute(client, "number_stats", body)
    assert response.status_code == 204, show(response)
    assert response.content == b""
    links = [link for link in response_links(response) if link.get("rel") != "monitor"]
    assert len(links) == len(STATS), response.headers.get_list("link")
    hrefs = {link["href"].rsplit("/", 1)[-1]: link["href"] for link in links}
    assert set(hrefs) == set(STATS), links
    for name, href in hrefs.items():
        fetched = client.get(href)
        assert fetched.status_code == 200, show(fetched)
        assert fetched.json() == expected[name]


def test_raw_with_mixed_transmission_is_multipart_with_content_location(
    client: httpx.Client,
) -> None:
    values, expected = numbers()
    body = {"inputs": {"numbers": values}, "response": "raw",
            "outputs": {"count": {"transmissionMode": "value"},
                        "mean": {"transmissionMode": "reference"}}}
    response = execute(client, "number_stats", body)
    assert response.status_code == 200, show(response)
    assert media_type(response) == "multipart/related", show(response)
    by_id = {p["Content-ID"].strip("<>"): p for p in multipart_parts(response)}
    assert set(by_id) == {"count", "mean"}
    assert json.loads(part_bytes(by_id["count"])) == expected["count"]
    assert part_bytes(by_id["mean"]).strip() == b""
    location = by_id["mean"]["Content-Location"]
    assert location, by_id["mean"].items()
    assert client.get(location).json() == expected["mean"]


def test_sync_execution_links_the_job_it_created_with_rel_monitor(client: httpx.Client) -> None:
    """/req/core/job-results-success-sync: a sync execution that creates a job says where."""
    value = unique("monitored")
    response = execute(client, "echo", {"inputs": {"value": value}, "outputs": {"value": {}}},
                       headers={"Cache-Control": "no-cache"})
    assert response.status_code == 200, show(response)
    monitors = [link for link in response_links(response) if link.get("rel") == "monitor"]
    assert len(monitors) == 1, f"no Link rel=monitor: {dict(response.headers)}"
    status = json_doc(client.get(monitors[0]["href"]), "statusInfo")
    assert status["status"] == "successful"
    assert status["processID"] == "echo"


def test_a_failed_sync_execution_links_its_job_with_rel_monitor(client: httpx.Client) -> None:
    """The exception of a failed synchronous execution leads to the job, whose page holds
    what the exception leaves out (the traceback, the log)."""
    message = unique("failing")
    response = execute(client, "fail", {"inputs": {"message": message}},
                       headers={"Cache-Control": "no-cache"})
    assert_exception(response, 500, mentions=[message])
    monitors = [link for link in response_links(response) if link.get("rel") == "monitor"]
    assert len(monitors) == 1, f"no Link rel=monitor: {dict(response.headers)}"
    status = json_doc(client.get(monitors[0]["href"]), "statusInfo")
    assert (status["status"], status["processID"]) == ("failed", "fail")


def test_mode_sync_body_member_executes_synchronously(client: httpx.Client) -> None:
    value = unique("mode-sync")
    response = execute(client, "echo",
                       {"inputs": {"value": value}, "outputs": {"value": {}}, "mode": "sync"},
                       headers=ASYNC)
    assert response.status_code == 200, show(response)
    assert response.text == value
    assert "preference-applied" not in response.headers, dict(response.headers)


def test_multiply_class_style_process_multiplies(client: httpx.Client) -> None:
    x, y = unique_int(), -7
    raw = execute(client, "multiply", {"inputs": {"x": x, "y": y}})
    assert raw.status_code == 200, show(raw)
    assert media_type(raw) == "application/json"
    assert raw.json() == x * y
    document = execute(client, "multiply", {"inputs": {"x": x, "y": y}, "response": "document"})
    assert json_doc(document, "results") == {"product": x * y}


def test_repeated_deterministic_request_gives_the_same_result(client: httpx.Client) -> None:
    x = unique_int()
    first = execute(client, "multiply", {"inputs": {"x": x, "y": 3}, "response": "document"})
    second = execute(client, "multiply", {"inputs": {"x": x, "y": 3}, "response": "document"})
    assert json_doc(first, "results") == json_doc(second, "results") == {"product": 3 * x}


def test_sync_body_runs_in_a_thread_and_returns_its_output(client: httpx.Client) -> None:
    body = {"inputs": {"seconds": 0.05}, "response": "document"}
    response = execute(client, "blocking_sleep", body, headers={"Cache-Control": "no-cache"})
    assert json_doc(response, "results") == {"done": True}


def test_blocking_sync_body_does_not_hold_up_other_jobs(client: httpx.Client,
                                                       tmp_path: Path) -> None:
    """While `held_in_a_thread` blocks its thread at a closed gate, the worker still runs
    another job to the end: the blocked body cannot have finished in between."""
    gates = Gates(tmp_path / "gates")
    location = start_job(client, "held_in_a_thread", {"gate": gates.path}).location
    try:
        wait_for(lambda: gates.reached("go"), 60, "the body to block its thread")
        value = unique("meanwhile")
        response = execute(client, "echo", {"inputs": {"value": value}, "outputs": {"value": {}}},
                           headers={"Cache-Control": "no-cache"})
        assert response.status_code == 200, show(response)
        assert response.text == value
        still = json_doc(client.get(location), "statusInfo")
        assert still["status"] == "running", f"blocking job is not running any more: {still}"
    finally:
        gates.open("go")
    done = wait_status(client, location, "successful", timeout=60)
    results = client.get(f"{location}/results")
    assert results.status_code == 200, show(results)
    assert results.json() is True
    assert any(link["rel"] == REL_RESULTS for link in done["links"]), done


def test_concurrent_sync_requests_are_each_answered_with_their_own_result(
    client: httpx.Client,
) -> None:
    values = [unique(f"c{i}") for i in range(8)]
    answers: dict[str, str] = {}

    def call(value: str) -> None:
        with httpx.Client(base_url=client.base_url, timeout=30) as own:
            body = {"inputs": {"value": value}, "outputs": {"value": {}}}
            answers[value] = own.post("/processes/echo/execution", json=body).text

    threads = [threading.Thread(target=call, args=(v,)) for v in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == {v: v for v in values}


def test_failing_process_answers_an_exception_with_its_message(client: httpx.Client) -> None:
    message = unique("went wrong")
    response = execute(client, "fail", {"inputs": {"message": message}})
    assert response.status_code >= 400, show(response)
    doc = assert_exception(response, response.status_code)
    assert doc["detail"] == message, doc
