"""A first end-to-end pass: the example processes answer through the real stack."""

from __future__ import annotations

import httpx


def test_echo_sync_returns_raw_value(client: httpx.Client) -> None:
    response = client.post("/processes/echo/execution",
                           json={"inputs": {"value": "hello"}, "outputs": {"value": {}}})
    assert response.status_code == 200
    assert response.text == "hello"


def test_add_document(client: httpx.Client) -> None:
    response = client.post("/processes/add/execution",
                           json={"inputs": {"a": 2, "b": 3.5}, "response": "document"})
    assert response.status_code == 200
    assert response.json() == {"sum": 5.5}
