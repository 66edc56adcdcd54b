"""uvicorn's HTTP protocol with read timeouts, so slow clients cannot hold connections.

uvicorn bounds only the idle time between requests (`timeout_keep_alive`), armed after a
response: a client that opens a connection and sends half a request line, or a head and
then its body a byte a minute, holds the connection (and its memory) for as long as it
likes, and a few hundred such clients (slowloris) starve the server. Here a request's
head must arrive within `FASTPROC_HEADER_TIMEOUT` seconds of the connection (or of its
first byte, on a kept-alive connection), and its body within `FASTPROC_BODY_TIMEOUT`
seconds of its head, or the connection is closed — after a 408 answer when no response is
under way. This follows Go's `ReadHeaderTimeout` and `ReadTimeout`.

`http_protocol(settings)` is what both `fastproc serve` and `fastproc dev` pass to uvicorn:

    uvicorn.Config(app, http=http_protocol(settings), ...)
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from fastproc.settings import Settings

_TIMEOUT_BODY = b"request timed out"
#: What a client that is too slow with its head reads before the connection closes.
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    + b"content-length: %d\r\nconnection: close\r\n\r\n" % len(_TIMEOUT_BODY)
                    + _TIMEOUT_BODY)


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus one timer per connection: armed for the head when
    the connection opens (or a kept-alive one sees the next request's first byte), re-armed
    for the body once the head is complete, cancelled when the whole request is in."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *,
                 header_timeout: float, body_timeout: float) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = cast(asyncio.Transport, _Coalescing(transport, self.loop))
        self._arm(self.header_timeout, "request head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_timer is None:
            self._arm(self.header_timeout, "request head")

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        # A pipelined request waits, unread, for the one before it: not the client's delay.
        if not self.pipeline:
            self._arm(self.body_timeout, "request body")

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(seconds, self._timed_out, seconds, what)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _timed_out(self, seconds: float, what: str) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        self.logger.info("%s sent no complete %s within %gs: connection closed",
                         client, what, seconds)
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()


class _Coalescing:
    """The connection's transport, writing what one turn of the event loop sends as one
    write: uvicorn writes a response's head and its body apart, which costs a second system
    call, and a second segment for the client to read, per response. Past `_FLUSH_AT`
    bytes it writes at once, so the transport's flow control still sees a large body."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= _FLUSH_AT:
            self._flush()

    def writelines(self, chunks: Iterable[bytes | bytearray | memoryview]) -> None:
        """Through `write`, so nothing overtakes what is held (uvicorn only calls `write`)."""
        for chunk in chunks:
            self.write(chunk)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


#: Bytes held for the turn's end before they are written anyway.
_FLUSH_AT = 64 * 1024


def http_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """The `http` argument of `uvicorn.Config`/`uvicorn.run` for these settings.

    uvicorn calls it with the protocol's arguments, so a partial of the class stands in for
    a class; unlike a class made here, it pickles for `fastproc serve --workers N`.
    """
    factory = functools.partial(TimedHttpToolsProtocol, header_timeout=settings.header_timeout,
                                body_timeout=settings.body_timeout)
    return cast(type[asyncio.Protocol], factory)
