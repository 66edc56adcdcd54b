"""The contract of `fastproc.api._uvicorn` with uvicorn: the protocol built from settings
bounds a request head in time and size and answers a pipelined series in order (the same
with `FASTPROC_FAST_PATHS` off: these are safety hooks); the dev server's uvicorn installs
no signal handlers."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from fastproc.api.server import QuietServer, http_protocol
from fastproc.settings import Settings


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers each request with its path."""
    assert scope["type"] == "http"
    body = scope["path"].encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=[True, False], ids=["fast-paths", "public-paths"])
async def port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    """A uvicorn in this loop with fastproc's protocol: short read timeouts, small heads."""
    settings = Settings(fast_paths=request.param, header_timeout=0.5, body_timeout=0.5,
                        max_header_count=5)
    config = uvicorn.Config(_app, http=http_protocol(settings), loop="none",
                            lifespan="off", log_config=None, log_level="warning")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:  # noqa: ASYNC110 (uvicorn sets a flag, not an event)
            await asyncio.sleep(0.01)
    yield sock.getsockname()[1]
    server.should_exit = True
    await task


async def _exchange(port: int, sent: bytes) -> bytes:
    """What the server sends for `sent` until it closes the connection."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    writer.write(sent)
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.anyio
async def test_a_half_sent_head_is_answered_408_and_closed(port: int) -> None:
    answer = await _exchange(port, b"GET /slow HTTP/1.1\r\nHost: x\r\n")
    assert answer.startswith(b"HTTP/1.1 408 "), answer


@pytest.mark.anyio
async def test_a_head_with_too_many_fields_is_answered_431(port: int) -> None:
    fields = b"".join(b"X-%d: v\r\n" % n for n in range(6))
    answer = await _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 "), answer


@pytest.mark.anyio
async def test_a_pipelined_pair_is_answered_in_order(port: int) -> None:
    answer = await _exchange(port, b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"
                             b"GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 ") == 2, answer
    assert answer.index(b"/first") < answer.index(b"/second")


def test_the_dev_server_leaves_the_signal_handlers_alone() -> None:
    before = signal.getsignal(signal.SIGTERM)
    server = QuietServer(uvicorn.Config(_app))
    with server.capture_signals():
        assert signal.getsignal(signal.SIGTERM) is before
