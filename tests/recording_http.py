"""A loopback HTTP(S) server that notes every connection and request it gets, so a test can
prove a server was never contacted, and which name (Host, TLS SNI) a client asked it for.

And `LoopbackOnlyNetwork`, the network under `fastproc.net`'s pinned client in tests: it
notes where each connection was to go and opens it only on loopback, so a test can prove a
connection went to a vetted public address without a packet ever leaving the machine."""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpcore

from tests.localhttp import QuietServer


class LoopbackOnlyNetwork(httpcore.AsyncNetworkBackend):
    """Notes every (address, port) it is asked to connect to; connects for real to loopback
    addresses and fails any other with `httpcore.ConnectError` before sending anything."""

    def __init__(self) -> None:
        self.targets: list[tuple[str, int]] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.targets.append((host, port))
        if not _is_loopback(host):
            raise httpcore.ConnectError(f"{host} is not loopback: tests connect nowhere else")
        return await self._real.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: the pinned backend should have passed an address


class RecordingHTTP:
    """GET /files/<any> answers `from <address>`; GET /redirect?to=<url> answers 302 there;
    POST takes any body. Usable as a context manager (serves in a thread)."""

    def __init__(self, address: str = "127.0.0.1", port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.address = address
        self.tls = tls
        self.connections = 0
        self.requests: list[tuple[str, str, str, bytes]] = []  # method, path, Host, body
        self.server_names: list[str | None] = []
        if tls is not None:
            tls.sni_callback = self._note_server_name
        self.server = _Server((address, port), _handler(self))
        self.server.owner = self
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _note_server_name(self, _sock: ssl.SSLObject, name: str | None,
                          _context: ssl.SSLContext) -> None:
        self.server_names.append(name)

    def __enter__(self) -> RecordingHTTP:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Server(QuietServer):
    owner: RecordingHTTP

    def server_bind(self) -> None:
        """Bind without `HTTPServer`'s reverse lookup of the address: for 127.0.0.2, which
        no hosts file names, that lookup is a DNS query sent off the machine."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, client = self.socket.accept()
        self.owner.connections += 1
        if self.owner.tls is None:
            return sock, client
        try:
            return self.owner.tls.wrap_socket(sock, server_side=True), client
        except OSError:
            sock.close()  # the client refused our certificate: nothing more to serve
            raise


def _handler(owner: RecordingHTTP) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass  # requests are asserted on, not logged

        def _note(self, body: bytes = b"") -> None:
            owner.requests.append((self.command, self.path, self.headers.get("Host", ""), body))

        def do_GET(self) -> None:
            self._note()
            parts = urlsplit(self.path)
            if parts.path == "/redirect":
                self._reply(302, b"", {"Location": parse_qs(parts.query)["to"][0]})
            else:
                self._reply(200, f"from {owner.address}".encode())

        def do_POST(self) -> None:
            self._note(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self._reply(204, b"")

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None
                   ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
