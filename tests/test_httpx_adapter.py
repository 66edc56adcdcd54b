"""The contract of `fastproc._httpx` with httpx and httpcore: a transport whose every
connection is opened by the network backend it is given, with httpx's own request and
error mapping (the SSRF pinning of `fastproc.net` depends on it; `tests/test_ssrf.py`
checks the pinning itself)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import httpcore
import httpx
import pytest

from fastproc._httpx import BackendTransport


class _Refusing(httpcore.AsyncNetworkBackend):
    """Notes where each connection was asked to go, and refuses it."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def connect_tcp(
        self, host: str, port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.asked.append((host, port))
        raise httpcore.ConnectError("refused by the test")


@pytest.mark.anyio
async def test_every_connection_goes_through_the_given_backend() -> None:
    network = _Refusing()
    async with httpx.AsyncClient(transport=BackendTransport(network)) as client:
        with pytest.raises(httpx.ConnectError, match="refused by the test"):
            await client.get("http://example.invalid:8123/x")
        with pytest.raises(httpx.ConnectError):
            await client.get("http://other.invalid/y")
    assert network.asked == [("example.invalid", 8123), ("other.invalid", 80)]


@pytest.mark.anyio
async def test_a_request_and_its_answer_go_through_the_pool_built_in_place() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(
                transport=BackendTransport(httpcore.AnyIOBackend())) as client:
            response = await client.get(f"http://127.0.0.1:{port}/")
        assert (response.status_code, response.text) == (200, "hello")
    finally:
        server.close()
        await server.wait_closed()
