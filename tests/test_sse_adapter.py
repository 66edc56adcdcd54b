"""The contract of `fastproc._sse` with sse-starlette: `end_streams` ends an open event
stream, and `allow_streams` lets the next server's streams stay open (sse-starlette never
clears the flag itself)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sse_starlette import EventSourceResponse

from fastproc._sse import allow_streams, end_streams


@pytest.fixture(autouse=True)
def _streams_allowed() -> Iterator[None]:
    allow_streams()
    yield
    allow_streams()


async def _forever() -> AsyncIterator[dict[str, str]]:
    while True:
        yield {"data": "tick"}
        await asyncio.sleep(0.05)


async def _stream(events: list[bytes]) -> None:
    """One event stream, served through ASGI to a client that never goes away."""
    never: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def receive() -> Any:
        return await never

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            events.append(message.get("body", b""))

    scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    await EventSourceResponse(_forever())(scope, receive, send)


@pytest.mark.anyio
async def test_ending_the_streams_ends_an_open_one() -> None:
    events: list[bytes] = []
    task = asyncio.create_task(_stream(events))
    await asyncio.sleep(0.2)
    assert not task.done() and events
    end_streams()
    await asyncio.wait_for(task, 5)  # sse-starlette polls the flag twice a second


@pytest.mark.anyio
async def test_a_stream_after_a_stopped_server_stays_open_once_allowed() -> None:
    end_streams()
    allow_streams()
    events: list[bytes] = []
    task = asyncio.create_task(_stream(events))
    await asyncio.sleep(0.8)
    try:
        assert not task.done() and len(events) > 2
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
