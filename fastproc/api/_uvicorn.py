"""uvicorn's internals, and the only module that touches them: fastproc's HTTP protocol
(request heads bounded in time and size) and the dev server's signal handling.

Tested against uvicorn 0.29 to 0.55 (`pyproject.toml` caps it; `tests/test_uvicorn_adapter.py`
checks the behaviour). The protocol subclasses `HttpToolsProtocol` and relies on its
`pipeline`, `cycle`, `transport`, `send_400_response` and parser callbacks (`on_url`,
`on_header`, ...); `fastproc.api.server` is the public face.

Safety hooks, always on:

uvicorn bounds only the idle time between requests (`timeout_keep_alive`), armed after a
response: a client that opens a connection and sends half a request line, or a head and
then its body a byte a minute, holds the connection (and its memory) for as long as it
likes, and a few hundred such clients (slowloris) starve the server. Here a request's
head must arrive within `FASTPROC_HEADER_TIMEOUT` seconds of the connection (or of its
first byte, on a kept-alive connection), and its body within `FASTPROC_BODY_TIMEOUT`
seconds of its head, or the connection is closed — after a 408 answer when no response is
under way. This follows Go's `ReadHeaderTimeout` and `ReadTimeout`. A pipelined request's
body timer starts when its turn comes (reading is paused while the one before it runs).

httptools caps neither the number nor the size of header fields, nor the URL: one
connection sending millions of header lines within the head timeout took an API to 2.9 GB.
Here a head's bytes are counted as they arrive, before the parser buffers them, and a head
over `FASTPROC_MAX_HEAD_BYTES`, a field over `FASTPROC_MAX_HEADER_BYTES`, more than
`FASTPROC_MAX_HEADER_COUNT` fields (431) or a target over `FASTPROC_MAX_URL_BYTES` (414)
is answered and the connection closed, as nginx, h11 and Node do.

No speed hook: a transport that wrote a response's head and body as one write (one system
call less per response) was measured against uvicorn's own writes and gained nothing
(sequential keep-alive requests under uvloop: 57.4 against 55.7 µs a request, median of
six runs of 4,000; server CPU 37 µs a request either way) and was removed. Every hook here
is a safety hook and stays on with `FASTPROC_FAST_PATHS=0`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from fastproc.settings import Settings


def _plain_answer(status: str, text: str) -> bytes:
    """A complete response that closes the connection, for answers sent below the app."""
    body = text.encode()
    return (f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


#: What a client that is too slow with its head reads before the connection closes.
_REQUEST_TIMEOUT = _plain_answer("408 Request Timeout", "request timed out")


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """How large a request head may be: see `Settings.max_head_bytes` and its neighbours."""

    head_bytes: int
    header_bytes: int
    header_count: int
    url_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> HeadLimits:
        return cls(settings.max_head_bytes, settings.max_header_bytes,
                   settings.max_header_count, settings.max_url_bytes)


class _HeadRefused(Exception):
    """Raised inside a parser callback to stop parsing a head over a limit; `answer` is
    what the client reads before the connection closes."""

    def __init__(self, answer: bytes, reason: str) -> None:
        super().__init__(reason)
        self.answer = answer


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus one timer per connection: armed for the head when
    the connection opens (or a kept-alive one sees the next request's first byte), re-armed
    for the body once the head is complete, cancelled when the whole request is in."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *,
                 header_timeout: float, body_timeout: float, limits: HeadLimits) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.limits = limits
        self._read_timer: asyncio.TimerHandle | None = None
        #: Between a message's end (or the connection's start) and its next head's end.
        self._in_head = True
        #: Bytes fed to the parser since the current head began (an upper bound).
        self._head_seen = 0
        self._header_count = 0
        #: A head is complete and its body is not: the body timer's business.
        self._body_pending = False
        self._refused: _HeadRefused | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, "request head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Feeds the parser no more of a head than the head limit allows: what is past the
        limit is never buffered, and a head still open at the limit is refused."""
        while data and self._refused is None and not self.transport.is_closing():
            if not self._in_head:
                super().data_received(data)
                return
            room = self.limits.head_bytes - self._head_seen
            if room <= 0:
                self._refuse(_HeadRefused(_HEAD_TOO_LARGE,
                                          f"a head over {self.limits.head_bytes} bytes"))
                return
            chunk, data = data[:room], data[room:]
            self._head_seen += len(chunk)
            super().data_received(chunk)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_count = 0
        if self._read_timer is None:
            self._arm(self.header_timeout, "request head")

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.url_bytes:
            raise self._refusal(_URL_TOO_LONG, f"a target over {self.limits.url_bytes} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.header_count:
            raise self._refusal(_HEAD_TOO_LARGE,
                                f"more than {self.limits.header_count} header fields")
        if len(name) + len(value) > self.limits.header_bytes:
            raise self._refusal(_HEAD_TOO_LARGE,
                                f"a header field over {self.limits.header_bytes} bytes")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_head = False
        self._head_seen = 0
        self._body_pending = True
        super().on_headers_complete()
        # A pipelined request waits, unread, for the one before it: not the client's delay.
        # Its body timer starts when its turn comes (`on_response_complete`).
        if not self.pipeline:
            self._arm(self.body_timeout, "request body")

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        self._head_seen = 0
        self._body_pending = False
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's turn: reading resumed, so a body still missing is now late.
        if self._body_pending and self._read_timer is None and not self.transport.is_closing():
            self._arm(self.body_timeout, "request body")

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to any parser error, which a refused head raises on purpose."""
        if self._refused is None:
            super().send_400_response(msg)
            return
        self._answer_and_close(self._refused.answer)

    def _refusal(self, answer: bytes, reason: str) -> _HeadRefused:
        """Noted before it is raised: the parser wraps it, and uvicorn answers 400 to that."""
        refused = _HeadRefused(answer, reason)
        self._refused = refused
        return refused

    def _refuse(self, refused: _HeadRefused) -> None:
        self._refused = refused
        self._answer_and_close(refused.answer)

    def _answer_and_close(self, answer: bytes) -> None:
        assert self._refused is not None
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        self.logger.info("%s sent %s: connection closed", client, self._refused)
        self._disarm()
        # A response under way (pipelining) would be cut by an answer of ours: close only.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(answer)
        self.transport.close()

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


_HEAD_TOO_LARGE = _plain_answer("431 Request Header Fields Too Large",
                                "request header fields too large")
_URL_TOO_LONG = _plain_answer("414 URI Too Long", "request target too long")


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling (`capture_signals`), for a server whose
    owner handles the signals: alone, `fastproc dev`'s API would stop on its own, then
    re-raise the signal and kill the process before the worker finished its jobs."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
