"""A small real HTTP server on loopback: serves input references, receives callbacks."""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietServer(ThreadingHTTPServer):
    """A test server that takes a client hanging up mid-answer (what the hostile-input
    tests do on purpose) as routine: no traceback in the output; anything else is shown."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LocalHTTP:
    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.received: dict[str, list[bytes]] = defaultdict(list)
        self.failures_left: dict[str, int] = {}
        self._changed = threading.Condition()
        self.server = QuietServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, name: str, data: bytes, media_type: str = "application/octet-stream"
              ) -> str:
        self.files[name] = (data, media_type)
        return f"{self.url}/files/{name}"

    def hook(self, name: str, fail_first: int = 0) -> str:
        """A callback URL; it answers 500 to its first `fail_first` calls."""
        self.failures_left[name] = fail_first
        return f"{self.url}/hooks/{name}"

    def wait_for_calls(self, name: str, count: int, timeout: float) -> list[bytes]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.received[name]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{name}: {len(self.received[name])} of {count} calls")
                self._changed.wait(left)
            return list(self.received[name])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass  # keep test output quiet; requests are asserted on, not logged

            def do_GET(self) -> None:
                if self.path == "/redirect-loop":
                    self._reply(302, b"", headers={"Location": "/redirect-loop"})
                    return
                if self.path.startswith("/redirect/"):
                    self._reply(302, b"", headers={"Location": "/files/" + self.path[10:]})
                    return
                if self.path == "/slow":
                    time.sleep(3)
                found = owner.files.get(self.path.removeprefix("/files/"))
                if found is None:
                    self._reply(404, b"not here")
                    return
                self._reply(200, found[0], found[1])

            def do_POST(self) -> None:
                name = self.path.removeprefix("/hooks/")
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if name.startswith("slow-"):
                    time.sleep(3)
                if owner.failures_left.get(name, 0) > 0:
                    owner.failures_left[name] -= 1
                    self._reply(500, b"try again")
                    return
                with owner._changed:
                    owner.received[name].append(body)
                    owner._changed.notify_all()
                self._reply(204, b"")

            def _reply(self, status: int, body: bytes, media_type: str = "text/plain",
                       headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", media_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def __enter__(self) -> LocalHTTP:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
