"""Requests the server must refuse, each with a 4xx exception document that says why
(OGC API - Processes 1.0, 7.5.1 and /req/core/process-execute-input-validation)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e import assert_exception, response_links, show, unique
from tests.support import Processes, free_port

INVALID = "InvalidParameterValue"
#: FASTPROC_MAX_BODY_BYTES of the test session (tests/conftest.py).
MAX_BODY = 200_000


def execute(client: httpx.Client, process_id: str, body: Any) -> httpx.Response:
    return client.post(f"/processes/{process_id}/execution", json=body)


@pytest.mark.parametrize(
    ("process_id", "inputs", "named"),
    [
        pytest.param("add", {"a": 1}, "b", id="missing-required"),
        pytest.param("multiply", {"y": 2}, "x", id="missing-required-yaml"),
        pytest.param("echo", {"value": "x", "bogus_input": 1}, "bogus_input", id="unknown"),
        pytest.param("add", {"a": "one", "b": 2}, "a", id="string-for-number"),
        pytest.param("add", {"a": 1, "b": [2]}, "b", id="array-for-number"),
        pytest.param("echo", {"value": 12}, "value", id="number-for-string"),
        pytest.param("multiply", {"x": 1.5, "y": 2}, "x", id="float-for-integer"),
        pytest.param("number_stats", {"numbers": ["a"]}, "numbers", id="wrong-item-type"),
        pytest.param("number_stats", {"numbers": 3}, "numbers", id="scalar-for-array"),
        pytest.param("sleep", {"seconds": -1}, "seconds", id="below-minimum"),
        pytest.param("sleep", {"seconds": 3601}, "seconds", id="above-maximum"),
        pytest.param("solid_png", {"width": 0}, "width", id="zero-width"),
        pytest.param("solid_png", {"height": 4097}, "height", id="height-too-big"),
        pytest.param("multiply", {"x": 1_000_001, "y": 1}, "x", id="yaml-maximum"),
        pytest.param("solid_png", {"color": "red"}, "color", id="bad-pattern"),
        pytest.param("solid_png", {"color": "#12345g"}, "color", id="bad-pattern-hex"),
        pytest.param("echo", {"value": None}, "value", id="null"),
    ],
)
def test_invalid_input_is_400_naming_the_input(
    client: httpx.Client, process_id: str, inputs: dict[str, Any], named: str,
) -> None:
    response = execute(client, process_id, {"inputs": inputs})
    assert_exception(response, 400, INVALID, mentions=[f"'{named}'"])


def test_invalid_input_is_refused_before_a_job_is_created(client: httpx.Client) -> None:
    marker = unique("never-run")
    response = client.post("/processes/echo/execution",
                           json={"inputs": {"value": marker, "extra": 1}},
                           headers={"Prefer": "respond-async"})
    assert_exception(response, 400, INVALID)
    assert "location" not in response.headers


@pytest.fixture(scope="module")
def strict_api(procs: Processes, worker: object) -> Iterator[httpx.Client]:
    """An API on the session's Valkey and worker that refuses private addresses (the
    default; the session allows them so that tests can serve references on loopback)."""
    port = free_port()
    api = procs.api(port, FASTPROC_ALLOW_PRIVATE_ADDRESSES="false")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        yield client
    api.terminate()
    api.wait(timeout=30)


def test_input_by_reference_to_a_private_address_is_refused_with_400(
    strict_api: httpx.Client,
) -> None:
    """Refused up front, naming the input: no job is created and nothing is fetched."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        href = f"http://127.0.0.1:{listener.getsockname()[1]}/text.txt"
        response = execute(strict_api, "echo", {"inputs": {"value": {"href": href}}})
        assert_exception(response, 400, INVALID, mentions=["'value'"])
        assert "location" not in response.headers, show(response)
        assert not [link for link in response_links(response) if link.get("rel") == "monitor"]
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # no connection is waiting: nobody tried to fetch the href


def test_body_that_is_not_json_is_400(client: httpx.Client) -> None:
    response = client.post("/processes/echo/execution", content=b'{"inputs": {"value": ',
                           headers={"Content-Type": "application/json"})
    assert_exception(response, 400)


def test_empty_body_is_400(client: httpx.Client) -> None:
    response = client.post("/processes/echo/execution", content=b"",
                           headers={"Content-Type": "application/json"})
    assert_exception(response, 400)


def test_json_array_body_is_400(client: httpx.Client) -> None:
    assert_exception(execute(client, "echo", [{"inputs": {"value": "x"}}]), 400)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"inputs": ["value", "x"]}, id="inputs-array"),
        pytest.param({"inputs": "x"}, id="inputs-string"),
        pytest.param({"inputs": {"value": "x"}, "outputs": ["value"]}, id="outputs-array"),
        pytest.param({"inputs": {"value": "x"}, "response": "xml"}, id="response-unknown"),
        pytest.param({"inputs": {"value": "x"},
                      "outputs": {"value": {"transmissionMode": "carrier-pigeon"}}},
                     id="transmission-unknown"),
        pytest.param({"inputs": {"value": "x"}, "mode": "later"}, id="mode-unknown"),
    ],
)
def test_malformed_execute_request_is_400(client: httpx.Client, body: dict[str, Any]) -> None:
    assert_exception(execute(client, "echo", body), 400)


def test_unknown_output_id_is_400_naming_it(client: httpx.Client) -> None:
    body = {"inputs": {"value": unique()}, "outputs": {"no_such_output": {}}}
    assert_exception(execute(client, "echo", body), 400, INVALID, mentions=["no_such_output"])


def test_body_over_the_size_limit_is_413(client: httpx.Client) -> None:
    body = {"inputs": {"value": "x" * (MAX_BODY + 1)}}
    response = execute(client, "echo", body)
    assert_exception(response, 413)


def test_chunked_body_over_the_size_limit_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"inputs": {"value": "'
        for _ in range(MAX_BODY // 10_000 + 2):
            yield b"y" * 10_000
        yield b'"}}'

    response = client.post("/processes/echo/execution", content=chunks(),
                           headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_exception(response, 413)


def test_body_just_under_the_size_limit_is_executed(client: httpx.Client) -> None:
    value = unique("big") + "z" * (MAX_BODY - 1_000)
    response = execute(client, "echo", {"inputs": {"value": value}, "outputs": {"value": {}}})
    assert response.status_code == 200, show(response)
    assert response.text == value


def test_xml_body_is_415(client: httpx.Client) -> None:
    response = client.post("/processes/echo/execution", content=b"<execute/>",
                           headers={"Content-Type": "application/xml"})
    assert_exception(response, 415)


@pytest.mark.parametrize("path", ["/", "/conformance", "/processes", "/processes/echo", "/jobs"])
def test_f_xml_is_406(client: httpx.Client, path: str) -> None:
    assert_exception(client.get(path, params={"f": "xml"}), 406)


@pytest.mark.parametrize("path", ["/", "/conformance", "/processes", "/processes/echo", "/jobs"])
def test_accept_application_xml_is_406(client: httpx.Client, path: str) -> None:
    assert_exception(client.get(path, headers={"Accept": "application/xml"}), 406)


def test_f_json_is_accepted(client: httpx.Client) -> None:
    response = client.get("/processes", params={"f": "json"})
    assert response.status_code == 200, show(response)


def test_wrong_method_is_405(client: httpx.Client) -> None:
    assert_exception(client.get("/processes/echo/execution"), 405)
    assert_exception(client.delete("/processes/echo"), 405)


def test_unknown_path_is_404(client: httpx.Client) -> None:
    assert_exception(client.get("/no/such/path"), 404)


ODD_REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/processes/echo/execution", {"content": b"\xff\xfe\x00garbage"}),
    ("POST", "/processes/echo/execution", {"content": b"null"}),
    ("POST", "/processes/echo/execution", {"content": b"42"}),
    ("POST", "/processes/echo/execution", {"content": b'"text"'}),
    ("POST", "/processes/echo/execution", {"json": {"inputs": None}}),
    ("POST", "/processes/echo/execution", {"json": {"inputs": {"value": {"value": None}}}}),
    ("POST", "/processes/echo/execution", {"json": {"inputs": {"value": {"nested": [1]}}}}),
    ("POST", "/processes/echo/execution", {"json": {"outputs": {"value": None}}}),
    ("POST", "/processes/echo/execution", {"json": {"outputs": {"value": {"format": 3}}}}),
    ("POST", "/processes/echo/execution", {"json": {"subscriber": "nope"}}),
    ("POST", "/processes/add/execution", {"content": b'{"inputs": {"a": 1e999, "b": 1}}'}),
    ("POST", "/processes/add/execution", {"content": b'{"inputs": {"a": NaN, "b": 1}}'}),
    ("POST", "/processes/multiply/execution", {"json": {"inputs": {"x": 10**40, "y": 1}}}),
    ("POST", "/processes/echo/execution", {"content": b"[" * 5000 + b"]" * 5000}),
    ("POST", "/processes/echo/execution", {"json": {"inputs": {"value": "x"}},
                                           "headers": {"Prefer": "respond-async;;;=,,"}}),
    ("GET", "/processes", {"params": {"offset": "-1"}}),
    ("GET", "/processes", {"params": {"offset": "x"}}),
    ("GET", "/processes", {"params": {"limit": str(2**70)}}),
    ("GET", "/jobs", {"params": {"status": "sleeping"}}),
    ("GET", "/jobs", {"params": {"limit": "0"}}),
    ("GET", "/jobs", {"params": {"datetime": "not-a-date"}}),
    ("GET", "/jobs", {"params": {"datetime": "2024-01-01T00:00:00Z/garbage"}}),
    ("GET", "/jobs", {"params": {"minDuration": "-3"}}),
    ("GET", "/jobs/%00", {}),
    ("GET", "/jobs/..%2F..%2Fetc", {}),
    ("GET", "/jobs/" + "a" * 5000, {}),
    ("GET", "/jobs/x/results/" + "b" * 300, {}),
    ("DELETE", "/jobs/%ff", {}),
    ("GET", "/processes/%00", {}),
    ("GET", "/processes/" + "p" * 5000, {}),
    ("GET", "/", {"headers": {"Accept": ";;;,,,"}}),
    ("GET", "/processes", {"params": {"f": ""}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), ODD_REQUESTS,
                         ids=[f"{m} {p[:40]} {sorted(k)}" for m, p, k in ODD_REQUESTS])
def test_odd_requests_never_get_a_server_error(
    client: httpx.Client, method: str, path: str, kwargs: dict[str, Any],
) -> None:
    response = client.request(method, path, **kwargs)
    assert response.status_code < 500, show(response)
    if response.status_code >= 400:
        assert_exception(response, response.status_code)
