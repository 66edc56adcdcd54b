"""Running the server side: `serve` (the API) and `worker`, and what they share with `dev`
(fastproc.devserver). Imported only by those commands, so the client commands start fast."""

from __future__ import annotations

import asyncio

import uvicorn

from fastproc.settings import Settings
from fastproc.worker.launch import create_worker

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
    uvloop = None  # type: ignore[assignment]
LOOP = "uvloop" if uvloop is not None else "asyncio"


def use_fast_event_loop() -> None:
    """uvloop for every event loop this process creates (API, in-loop and arq workers)."""
    if uvloop is not None:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def serve(settings: Settings, workers: int) -> None:
    # Only API processes load the web stack.
    from fastproc.api.app import create_app
    from fastproc.api.server import http_protocol

    http = http_protocol(settings)  # read timeouts against slow clients
    if workers > 1:
        uvicorn.run("fastproc.api.app:create_app", factory=True, host=settings.host,
                    port=settings.port, workers=workers, log_config=None, loop=LOOP, http=http)
    else:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                    log_config=None, loop=LOOP, http=http)


def worker(settings: Settings) -> None:
    create_worker(settings).run()
