"""Request heads built to eat memory, and pipelined requests built to hold connections:
bounded by the API's HTTP protocol (`fastproc.api.server`), end to end against `fastproc
serve`."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from tests.support import Processes, free_port, read_until_closed, wait_for

KEY = "heads-secret-5d1e"


@dataclass
class Api:
    url: str
    port: int
    child: Popen[bytes]

    def head(self) -> bytes:
        return f"Host: 127.0.0.1:{self.port}\r\n".encode()


def _start(procs: Processes, **settings: str) -> Api:
    port = free_port()
    child = procs.api(port, **settings)
    return Api(f"http://127.0.0.1:{port}", port, child)


@pytest.fixture(scope="module")
def api(procs: Processes, worker: object) -> Iterator[Api]:
    """Short read timeouts and the default head limits."""
    started = _start(procs, FASTPROC_HEADER_TIMEOUT="2", FASTPROC_BODY_TIMEOUT="2")
    yield started
    started.child.terminate()
    started.child.wait(timeout=20)


@pytest.fixture(scope="module")
def keyed(procs: Processes, worker: object) -> Iterator[Api]:
    """Keys on and a body timeout no test waits for: an answer before the body can only
    come from a route that did not read it."""
    started = _start(procs, FASTPROC_API_KEYS=f"alice:{KEY}", FASTPROC_BODY_TIMEOUT="3600")
    yield started
    started.child.terminate()
    started.child.wait(timeout=20)


def _read_response(sock: socket.socket, timeout: float = 60) -> bytes:
    """One response, head and body, however many segments it comes in (the connection may
    stay open)."""
    sock.settimeout(timeout)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed within a response head: {received[:300]!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the connection closed within a response body"
        body += chunk
    return head + b"\r\n\r\n" + body


def _peak_rss_kib(child: Popen[bytes]) -> int:
    """The process's high-water RSS (`VmHWM`): what a burst cost, even once freed."""
    for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def _send_until_refused(sock: socket.socket, first: bytes, filler: bytes, total: int) -> int:
    """Sends `first`, then `filler` until `total` bytes or the server hangs up; the bytes
    it took."""
    sent = 0
    try:
        sock.sendall(first)
        sent = len(first)
        while sent < total:
            sock.sendall(filler)
            sent += len(filler)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


# -- heads over a limit ----------------------------------------------------------------------


def test_a_request_with_too_many_header_fields_gets_431_and_is_closed(api: Api) -> None:
    many = b"".join(b"X-Field-%d: v\r\n" % i for i in range(150))
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n" + api.head() + many + b"\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"connection: close" in answer.lower()


def test_a_header_field_over_its_limit_gets_431(api: Api) -> None:
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n" + api.head()
                     + b"X-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]


def test_a_target_over_its_limit_gets_414(api: Api) -> None:
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(b"GET /processes?x=" + b"a" * 40_000 + b" HTTP/1.1\r\n" + api.head()
                     + b"\r\n")
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:200]


def test_heads_within_the_limits_are_answered(api: Api) -> None:
    fields = {f"x-field-{i}": "v" * 1000 for i in range(40)}
    with httpx.Client(base_url=api.url, timeout=20) as client:
        assert client.get("/health", headers=fields).status_code == 200
        assert client.get("/processes", params={"q": "a" * 8000}).status_code == 200


@pytest.mark.parametrize("shape", ["header lines", "one header line", "url"])
def test_a_40_mb_head_costs_no_memory_and_health_answers_meanwhile(
    api: Api, shape: str,
) -> None:
    """The head is refused once it passes its limit: the rest is never read, so the API
    cannot buffer it (it took 2.9 GB before the limits)."""
    first, filler = {
        "header lines": (b"GET /health HTTP/1.1\r\n" + api.head(), b"X-A: b\r\n" * 8192),
        "one header line": (b"GET /health HTTP/1.1\r\n" + api.head() + b"X-A: ", b"b" * 65536),
        "url": (b"GET /health?x=", b"a" * 65536),
    }[shape]
    before = _peak_rss_kib(api.child)
    answers: list[int] = []
    stop = threading.Event()

    def poll_health() -> None:
        with httpx.Client(base_url=api.url, timeout=20) as client:
            while not stop.is_set():
                answers.append(client.get("/health").status_code)

    poller = threading.Thread(target=poll_health)
    poller.start()
    try:
        with socket.create_connection(("127.0.0.1", api.port)) as sock:
            sent = _send_until_refused(sock, first, filler, 40 * 1024 * 1024)
            answer = read_until_closed(sock)
        wait_for(lambda: len(answers) >= 3, 30, "health to answer after the head")
    finally:
        stop.set()
        poller.join(timeout=30)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 414 ")), answer[:200]
    assert sent < 40 * 1024 * 1024, "the server read a 40 MB head to its end"
    assert answers and set(answers) == {200}, answers
    grown_mib = (_peak_rss_kib(api.child) - before) / 1024
    assert grown_mib < 64, f"the API's peak RSS grew by {grown_mib:.0f} MiB"


# -- pipelined requests ----------------------------------------------------------------------


def test_pipelined_requests_without_their_bodies_are_closed_by_the_body_timeout(
    api: Api,
) -> None:
    """A quick request, then on the same connection the head of one whose body never comes:
    the second is someone else's turn only once the first is answered, and from then its
    body is late like any other."""
    pipelined = (b"GET /health HTTP/1.1\r\n" + api.head() + b"\r\n"
                 + b"POST /processes/echo/execution/form HTTP/1.1\r\n" + api.head()
                 + b"Content-Type: application/x-www-form-urlencoded\r\n"
                 + b"Content-Length: 1000\r\n\r\n")
    socks = [socket.create_connection(("127.0.0.1", api.port)) for _ in range(50)]
    try:
        for sock in socks:
            sock.sendall(pipelined)
        for sock in socks:
            answer = read_until_closed(sock)
            assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    finally:
        for sock in socks:
            sock.close()


def test_a_pipelined_series_is_still_answered_in_order(api: Api) -> None:
    series = b"".join(b"GET /%s HTTP/1.1\r\n" % path + api.head() + b"\r\n"
                      for path in (b"health", b"conformance", b"health"))
    with socket.create_connection(("127.0.0.1", api.port)) as sock:
        sock.sendall(series + b"GET /health HTTP/1.1\r\n" + api.head()
                     + b"Connection: close\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer.count(b"HTTP/1.1 200 ") == 4, answer[:500]
    assert answer.index(b"conformsTo") < answer.rindex(b"HTTP/1.1 200 ")


# -- keys before bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/processes/echo/execution/form",
                                  "/processes/echo/execution"])
def test_a_route_that_needs_a_key_refuses_before_reading_the_body(
    keyed: Api, path: str,
) -> None:
    content_type = ("application/x-www-form-urlencoded" if path.endswith("form")
                    else "application/json")
    head = (f"POST {path} HTTP/1.1\r\n".encode() + keyed.head()
            + f"Content-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n".encode())
    with socket.create_connection(("127.0.0.1", keyed.port)) as sock:
        sock.sendall(head)
        answer = _read_response(sock)
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:300]
    assert b"/unauthorized" in answer
