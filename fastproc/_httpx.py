"""httpx's internals, and the only module that touches them: an `httpx.AsyncHTTPTransport`
over a network backend of fastproc's own.

httpx takes no network backend, and its transport keeps all its state in one attribute,
`_pool`: the pool is built here instead of by `super().__init__`. This is a safety hook
(fastproc's SSRF pinning, `fastproc.net.PinnedBackend`, lives in the backend), so it has no
public path to fall back to and stays on with `FASTPROC_FAST_PATHS=0`. Tested against
httpx 0.27 to 0.29 and httpcore 1.0 (`pyproject.toml` caps them); `tests/test_httpx_adapter.py`
checks that requests go through the given backend, and the pinning tests
(`tests/test_ssrf.py`) fail if a new httpx moves the pool.
"""

from __future__ import annotations

import ssl

import httpcore
import httpx


class BackendTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its request and error mapping), every connection opened by
    `network`. Proxies are not used: a proxy would resolve the name itself."""

    def __init__(self, network: httpcore.AsyncNetworkBackend,
                 verify: ssl.SSLContext | bool = True) -> None:
        self._pool = httpcore.AsyncConnectionPool(  # the limits are httpx's defaults
            ssl_context=httpx.create_ssl_context(verify=verify),  # honours SSL_CERT_FILE
            max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0,
            network_backend=network,
        )
