"""Inputs in every form the standard allows, including by reference (fetched by the worker),
and outputs requested in a given format."""

from __future__ import annotations

import base64
import socket
import uuid
import zlib
from collections.abc import Iterator

import anyio
import httpx
import orjson
import pytest
import redis

from fastproc.net import AddressNotAllowed, pinned_client
from fastproc.settings import Settings
from tests.localhttp import LocalHTTP
from tests.support import Processes, submit_async, wait_job


def _document(client: httpx.Client, process_id: str, inputs: dict[str, object],
              **extra: object) -> httpx.Response:
    return client.post(f"/processes/{process_id}/execution",
                       headers={"Cache-Control": "no-cache"},
                       json={"inputs": inputs, "response": "document", **extra})


def test_literal_array_object_and_qualified_values(client: httpx.Client) -> None:
    assert _document(client, "number_stats", {"numbers": [1, 2, 6]}).json()["mean"] == 3
    keys = _document(client, "object_keys", {"document": {"b": 1, "a": {"x": [1]}}})
    assert keys.json() == {"keys": ["a", "b"]}
    qualified = _document(client, "echo", {"value": {"value": "hi", "mediaType": "text/plain"}},
                          outputs={"value": {}})
    assert qualified.json() == {"value": "hi"}


def test_binary_input_as_base64(client: httpx.Client) -> None:
    data = uuid.uuid4().bytes * 50
    response = _document(client, "byte_stats", {"data": {
        "value": base64.b64encode(data).decode(), "encoding": "base64",
        "mediaType": "application/octet-stream"}})
    assert response.json() == {"size": len(data), "checksum": zlib.crc32(data)}


def test_bounding_box_input(client: httpx.Client) -> None:
    response = _document(client, "bbox_area", {"extent": {"bbox": [0, 0, 2, 3]}})
    assert response.json() == {"area": 6}
    bad = _document(client, "bbox_area", {"extent": {"bbox": [0, 0, 2]}})
    assert bad.status_code == 400 and "extent" in bad.json()["detail"]


def test_inputs_by_reference_are_fetched_and_read_as_their_schema_says(
    client: httpx.Client, local_http: LocalHTTP
) -> None:
    numbers = local_http.serve(f"n-{uuid.uuid4().hex}", b"[2, 4, 9]", "application/json")
    text = local_http.serve(f"t-{uuid.uuid4().hex}", "hé there".encode(), "text/plain")
    blob = uuid.uuid4().bytes * 10
    binary = local_http.serve(f"b-{uuid.uuid4().hex}", blob)
    assert _document(client, "number_stats", {"numbers": {"href": numbers}}).json()["mean"] == 5
    echoed = _document(client, "echo", {"value": {"href": text}}, outputs={"value": {}})
    assert echoed.json() == {"value": "hé there"}
    assert _document(client, "byte_stats", {"data": {"href": binary}}).json() == {
        "size": len(blob), "checksum": zlib.crc32(blob)}


def test_reference_redirects_are_followed(client: httpx.Client, local_http: LocalHTTP) -> None:
    name = f"r-{uuid.uuid4().hex}"
    local_http.serve(name, b"redirected", "text/plain")
    response = _document(client, "echo", {"value": {"href": f"{local_http.url}/redirect/{name}"}},
                         outputs={"value": {}})
    assert response.json() == {"value": "redirected"}


@pytest.mark.parametrize("path,reason", [
    ("/files/missing", "404"),
    ("/redirect-loop", "redirects"),
])
def test_a_reference_that_cannot_be_fetched_fails_the_job_clearly(
    client: httpx.Client, local_http: LocalHTTP, path: str, reason: str
) -> None:
    job_id = submit_async(client, "echo", {"value": {"href": f"{local_http.url}{path}"}})
    status = wait_job(client, job_id)
    assert status["status"] == "failed"
    assert "input 'value'" in status["message"] and reason in status["message"]
    results = client.get(f"/jobs/{job_id}/results")
    assert results.status_code == 400
    assert results.json()["type"].endswith("InvalidParameterValue")


def test_validation_applies_to_the_fetched_value(client: httpx.Client,
                                                 local_http: LocalHTTP) -> None:
    href = local_http.serve(f"bad-{uuid.uuid4().hex}", b'["a", "b"]', "application/json")
    job_id = submit_async(client, "number_stats", {"numbers": {"href": href}})
    status = wait_job(client, job_id)
    assert status["status"] == "failed"
    assert "numbers" in status["message"] and "number" in status["message"]


@pytest.fixture(scope="module")
def strict_stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Iterator[str]:
    """A worker and API with the default address rules."""
    yield procs.stack(r, key_prefix, FASTPROC_ALLOW_PRIVATE_ADDRESSES="false").url


def test_references_to_private_addresses_are_refused_by_default(
    strict_stack: str, local_http: LocalHTTP
) -> None:
    href = local_http.serve(f"p-{uuid.uuid4().hex}", b"secret", "text/plain")
    with httpx.Client(base_url=strict_stack, timeout=20) as client:
        for target in (href, "http://localhost:6379/", "http://169.254.169.254/latest"):
            response = _document(client, "echo", {"value": {"href": target}})
            assert response.status_code == 400, response.text
            assert "not a public address" in response.json()["detail"]


def test_unsupported_schemes_are_refused(client: httpx.Client) -> None:
    response = _document(client, "echo", {"value": {"href": "file:///etc/passwd"}})
    assert response.status_code == 400
    assert "scheme 'file' is not allowed" in response.json()["detail"]


def test_hosts_resolving_to_private_addresses_are_refused_at_fetch_time() -> None:
    host = socket.gethostname()
    addresses = {info[4][0] for info in socket.getaddrinfo(host, 80)}
    assert addresses, "the machine's own name resolves"

    async def check() -> None:
        with pytest.raises(AddressNotAllowed):
            async with pinned_client(Settings(), timeout=5) as http:
                await http.get(f"http://{host}/")

    anyio.run(check)


def test_fetch_limits_fail_the_job(procs: Processes, r: redis.Redis, key_prefix: str,
                                   local_http: LocalHTTP) -> None:
    stack = procs.stack(r, key_prefix, FASTPROC_FETCH_MAX_BYTES="1000",
                        FASTPROC_FETCH_TIMEOUT="1")
    big = local_http.serve(f"big-{uuid.uuid4().hex}", b"x" * 5000, "text/plain")
    with stack.client() as client:
        for href, reason in ((big, "over 1000 bytes"),
                             (f"{local_http.url}/slow", "FASTPROC_FETCH_TIMEOUT")):
            job_id = submit_async(client, "echo", {"value": {"href": href}})
            status = wait_job(client, job_id)
            assert status["status"] == "failed"
            assert reason in status["message"], status["message"]


def test_output_format_is_honoured_or_rejected(client: httpx.Client) -> None:
    ok = client.post("/processes/solid_png/execution", json={
        "inputs": {"width": 2}, "outputs": {"image": {"format": {"mediaType": "image/png"}}}})
    assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
    refused = client.post("/processes/solid_png/execution", json={
        "inputs": {"width": 2}, "outputs": {"image": {"format": {"mediaType": "image/jpeg"}}}})
    assert refused.status_code == 400
    assert "image/png" in refused.json()["detail"]
    assert orjson.loads(refused.content)["type"].endswith("InvalidParameterValue")
