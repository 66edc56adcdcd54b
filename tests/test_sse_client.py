"""The client's reading of an event stream: events parsed by httpx-sse, and a deadline that
a stream of keep-alives alone cannot hold off."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from fastproc.client.sse import DeadlinePassed, events


def _serving(chunks: Iterator[bytes]) -> httpx.Client:
    """A client whose every request is answered with an event stream of `chunks`."""
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              stream=_Chunks(chunks))
    return httpx.Client(transport=httpx.MockTransport(answer), base_url="http://test")


class _Chunks(httpx.SyncByteStream):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self.chunks


def _keepalives() -> Iterator[bytes]:
    """A quiet job's stream: nothing but keep-alives (finite, so a reader that ignores the
    deadline ends instead of hanging the test)."""
    for _ in range(1000):
        yield b": keepalive\n\n"


def test_a_stream_of_keepalives_ends_at_the_deadline() -> None:
    with (_serving(_keepalives()) as client, client.stream("GET", "/e") as response,
          pytest.raises(DeadlinePassed)):
        list(events(response, until=time.monotonic()))


def test_events_before_the_deadline_are_parsed_with_multiline_data_and_ids() -> None:
    stream = iter([b"id: 1\nevent: status\ndata: {\"a\":\n", b"data: 1}\n\n: keepalive\n\n",
                   b"event: status\ndata: 2\n\n"])
    with _serving(stream) as client, client.stream("GET", "/e") as response:
        got = [(e.event, e.data, e.id) for e in events(response, until=time.monotonic() + 600)
               if e.data]
    assert got == [("status", '{"a":\n1}', "1"), ("status", "2", "1")]
