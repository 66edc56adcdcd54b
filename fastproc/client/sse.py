"""Reading a Server-Sent Events stream with `httpx-sse`, within a deadline.

`httpx-sse` parses the stream (fields, multi-line data, ids). It swallows comment lines,
which is where a quiet job's keep-alives go, so a reader of its events alone never wakes
up while the job says nothing, however long past its deadline. `events` therefore watches
the bytes under the parser: the first chunk (a keep-alive included) that arrives after
`until` ends the stream with `DeadlinePassed`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx

from fastproc.extras import extra

with extra("client"):
    from httpx_sse import EventSource, ServerSentEvent


class DeadlinePassed(Exception):
    """The stream was still open at the caller's deadline."""


class _Until(httpx.SyncByteStream):
    """A response body that raises `DeadlinePassed` once a chunk arrives after `until`."""

    def __init__(self, stream: httpx.SyncByteStream, until: float) -> None:
        self._stream = stream
        self._until = until

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if time.monotonic() >= self._until:
                raise DeadlinePassed
            yield chunk

    def close(self) -> None:
        self._stream.close()


def events(response: httpx.Response, *, until: float | None = None
           ) -> Iterator[ServerSentEvent]:
    """The events of a streamed `text/event-stream` response, until the monotonic time
    `until` when given.

    >>> with client.stream("GET", "/jobs/abc/events") as response:  # doctest: +SKIP
    ...     for event in events(response, until=time.monotonic() + 60):
    ...         print(event.event, event.json())
    """
    if until is not None and isinstance(response.stream, httpx.SyncByteStream):
        response.stream = _Until(response.stream, until)
    return EventSource(response).iter_sse()
