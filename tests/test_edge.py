"""The API's edge against hostile or careless clients, with access control off (the default):
cross-site form posts, untyped bodies, bodies built to cost CPU, slow and vanishing
clients, and a body that forgot its `inputs` wrapper."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from tests.e2e import assert_exception
from tests.support import (
    Processes,
    free_port,
    job_status,
    read_until_closed,
    submit_async,
    wait_for,
    wait_job,
)

EVIL = "https://evil.example"


@dataclass
class EdgeApi:
    url: str
    port: int
    log: Path


def _api(procs: Processes, log: Path, **settings: str) -> tuple[EdgeApi, Popen[bytes]]:
    """An API of the session's workers (their catalogue and queue) with these settings."""
    port = free_port()
    child = procs.api(port, FASTPROC_LOG_FILE=str(log), **settings)
    return EdgeApi(f"http://127.0.0.1:{port}", port, log), child


@pytest.fixture(scope="module")
def edge(procs: Processes, worker: object, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[EdgeApi]:
    """Short read timeouts, a host pattern, and a log file of its own."""
    api, child = _api(procs, tmp_path_factory.mktemp("edge") / "api.log",
                      FASTPROC_HEADER_TIMEOUT="1", FASTPROC_BODY_TIMEOUT="1",
                      FASTPROC_TRUSTED_HOSTS="127.0.0.1,*.example.org")
    yield api
    child.terminate()
    child.wait(timeout=20)


@pytest.fixture(scope="module")
def roomy(procs: Processes, worker: object, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[EdgeApi]:
    """A body limit that lets a large hostile body through to the JSON checks."""
    api, child = _api(procs, tmp_path_factory.mktemp("roomy") / "api.log",
                      FASTPROC_MAX_BODY_BYTES=str(16 * 1024 * 1024))
    yield api
    child.terminate()
    child.wait(timeout=20)


# -- A. cross-site requests ------------------------------------------------------------------

CROSS_SITE = [
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Referer": f"{EVIL}/page.html"},
    # A browser's Sec-Fetch-Site wins over an Origin that looks like ours.
    {"Sec-Fetch-Site": "cross-site", "Origin": "{own}"},
]


def _jobs_of(client: httpx.Client, process_id: str) -> set[str]:
    listed = client.get("/jobs", params={"processID": process_id, "limit": 1000})
    assert listed.status_code == 200, listed.text
    return {job["jobID"] for job in listed.json()["jobs"]}


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_a_cross_site_form_post_is_refused_and_starts_no_job(
    client: httpx.Client, headers: dict[str, str],
) -> None:
    own = str(client.base_url).rstrip("/")
    sent = {name: value.format(own=own) for name, value in headers.items()}
    before = _jobs_of(client, "echo")
    response = client.post("/processes/echo/execution/form", data={"value": "csrf"},
                           headers=sent)
    assert_exception(response, 403, "forbidden", mentions=["refused"])
    assert _jobs_of(client, "echo") == before


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "same-origin"},
    {"Sec-Fetch-Site": "none"},
    {"Origin": "{own}"},
    {"Referer": "{own}/processes/echo?f=html"},
    {},  # no browser: curl, a script
])
def test_a_form_post_from_our_own_pages_or_no_browser_runs(
    client: httpx.Client, headers: dict[str, str],
) -> None:
    own = str(client.base_url).rstrip("/")
    sent = {name: value.format(own=own) for name, value in headers.items()}
    response = client.post("/processes/echo/execution/form", data={"value": "ours"},
                           headers=sent)
    assert response.status_code == 303, response.text
    assert "/jobs/" in response.headers["location"]


def test_a_cross_site_dismiss_leaves_the_job_running(client: httpx.Client) -> None:
    job_id = submit_async(client, "sleep", {"seconds": 30})
    wait_job(client, job_id, until=lambda s: s["status"] in ("accepted", "running"))
    refused = client.post(f"/jobs/{job_id}/dismiss", headers={"Origin": EVIL})
    assert_exception(refused, 403, "forbidden")
    assert job_status(client, job_id)["status"] in ("accepted", "running")
    own = client.post(f"/jobs/{job_id}/dismiss", headers={"Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 303, own.text
    assert wait_job(client, job_id)["status"] == "dismissed"


@pytest.mark.parametrize("content_type", [
    None, "", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
    "text/json",
])
def test_the_json_execute_route_refuses_a_body_that_is_not_typed_json(
    client: httpx.Client, content_type: str | None,
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = client.post("/processes/echo/execution", content=b'{"inputs": {"value": "x"}}',
                           headers=headers)
    assert_exception(response, 415, "unsupported-media-type")


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8", "application/execute+json",
])
def test_the_json_execute_route_takes_json_with_parameters(
    client: httpx.Client, content_type: str,
) -> None:
    body = b'{"inputs": {"value": "j"}, "outputs": {"value": {}}}'
    response = client.post("/processes/echo/execution", content=body,
                           headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text
    assert response.text == "j"


# -- B. bodies built to cost CPU -------------------------------------------------------------


def test_a_body_with_600000_outputs_is_refused_by_the_limit_that_bounds_it(
    roomy: EdgeApi,
) -> None:
    outputs = {f"o{n}": {} for n in range(600_000)}
    body = json.dumps({"inputs": {"value": "x"}, "outputs": outputs}).encode()
    with httpx.Client(base_url=roomy.url, timeout=60) as client:
        response = client.post("/processes/echo/execution", content=body,
                               headers={"Content-Type": "application/json"})
        assert_exception(response, 400, "InvalidParameterValue",
                         mentions=["600000 outputs", "FASTPROC_MAX_INPUTS"])
        assert client.get("/health").status_code in (200, 503)


def _nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("body,limit", [
    ('{"inputs": {"value": "x"}, "subscriber": ' + _nested_object(1000) + "}",
     "FASTPROC_MAX_JSON_DEPTH"),
    ('{"inputs": {"value": "x"}, "subscriber": {"successUri": ' + "[" * 40 + "]" * 40 + "}}",
     "FASTPROC_MAX_JSON_DEPTH"),
    ('{"inputs": {"value": "x"}, "extra": ' + _nested_object(100) + "}",
     "FASTPROC_MAX_JSON_DEPTH"),
])
def test_depth_is_bounded_in_every_member_not_only_inputs(
    client: httpx.Client, body: str, limit: str,
) -> None:
    response = client.post("/processes/echo/execution", content=body.encode(),
                           headers={"Content-Type": "application/json"})
    assert_exception(response, 400, "InvalidParameterValue", mentions=[limit])


def test_outputs_and_other_members_are_bounded_like_inputs(client: httpx.Client) -> None:
    outputs = {f"o{n}": {} for n in range(101)}
    response = client.post("/processes/echo/execution",
                           json={"inputs": {"value": "x"}, "outputs": outputs})
    assert_exception(response, 400, "InvalidParameterValue",
                     mentions=["101 outputs", "FASTPROC_MAX_INPUTS"])


# -- C. slow and vanishing clients -----------------------------------------------------------


def test_a_half_sent_request_line_is_closed_after_the_header_timeout(edge: EdgeApi) -> None:
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        sock.sendall(b"GET /heal")
        answer = read_until_closed(sock, timeout=30)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    edge: EdgeApi,
) -> None:
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        read_until_closed(sock, timeout=30)


def test_a_body_that_stops_coming_is_closed_after_the_body_timeout(edge: EdgeApi) -> None:
    head = (f"POST /processes/echo/execution HTTP/1.1\r\nHost: 127.0.0.1:{edge.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        sock.sendall(head + b'{"inputs": ')
        read_until_closed(sock, timeout=30)


def test_a_client_that_hangs_up_mid_request_is_one_info_line_without_traceback(
    edge: EdgeApi,
) -> None:
    head = (f"POST /processes/echo/execution HTTP/1.1\r\nHost: 127.0.0.1:{edge.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", edge.port)) as sock:
        ours = "{}:{}".format(*sock.getsockname()[:2])
        sock.sendall(head + b'{"inputs": ')

    def logged() -> list[str]:
        return [line for line in edge.log.read_text().splitlines()
                if f"{ours} disconnected before its request" in line]

    lines = wait_for(logged, 30, "the disconnect to be logged")
    assert len(lines) == 1 and "| INFO " in lines[0], lines
    text = edge.log.read_text()
    assert "Traceback" not in text and "| ERROR " not in text, text[-3000:]


# -- D. hosts --------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "example.org.evil.example", "127.0.0.1@evil"])
def test_an_untrusted_host_is_refused_and_never_echoed(edge: EdgeApi, host: str) -> None:
    with httpx.Client(base_url=edge.url, timeout=20, headers={"Host": host}) as client:
        for response in (client.get("/"), client.get("/", params={"f": "html"}),
                         client.post("/processes/echo/execution",
                                     json={"inputs": {"value": "x"}},
                                     headers={"Prefer": "respond-async"})):
            assert_exception(response, 400, "invalid-request",
                             mentions=["FASTPROC_TRUSTED_HOSTS"])
            assert "location" not in response.headers
            assert host not in response.text


def test_a_trusted_host_pattern_is_answered_and_used_in_links(edge: EdgeApi) -> None:
    host = f"api.example.org:{edge.port}"
    with httpx.Client(base_url=edge.url, timeout=20, headers={"Host": host}) as client:
        created = client.post("/processes/echo/execution", json={"inputs": {"value": "h"}},
                              headers={"Prefer": "respond-async"})
    assert created.status_code == 201, created.text
    assert created.headers["location"].startswith(f"http://{host}/jobs/")


def test_an_open_server_declares_no_key_schemes(client: httpx.Client) -> None:
    doc = client.get("/api").json()
    assert "securitySchemes" not in doc.get("components", {})
    assert all("security" not in operation
               for item in doc["paths"].values() for operation in item.values())


# -- E. a body without its inputs wrapper ----------------------------------------------------


def test_inputs_at_the_top_of_the_body_are_named_as_misplaced(client: httpx.Client) -> None:
    response = client.post("/processes/add/execution", json={"a": 1, "b": 2})
    doc = assert_exception(response, 400, "InvalidParameterValue",
                           mentions=['inputs go under "inputs"', "'a'", "'b'"])
    assert "missing" not in doc["detail"]


def test_other_top_level_members_are_still_allowed(client: httpx.Client) -> None:
    response = client.post("/processes/echo/execution",
                           json={"inputs": {"value": "kept"}, "note": "not an input"})
    assert response.status_code == 200, response.text
