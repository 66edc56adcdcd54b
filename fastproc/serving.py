"""Running the server side: `dev` (API + in-loop worker + embedded Valkey), `serve` (the
API) and `worker`. Imported only by those commands, so the client commands start fast."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn
from loguru import logger

from fastproc.embedded import embedded_valkey
from fastproc.queue.worker import create_worker
from fastproc.settings import Settings

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
    uvloop = None  # type: ignore[assignment]
try:
    import httptools  # noqa: F401
    HTTP = "httptools"
except ImportError:  # pragma: no cover
    HTTP = "h11"
LOOP = "uvloop" if uvloop is not None else "asyncio"


def use_fast_event_loop() -> None:
    """uvloop for every event loop this process creates (API, in-loop and arq workers)."""
    if uvloop is not None:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


class _InProcessServer(uvicorn.Server):
    """uvicorn re-raises a caught SIGTERM once it has shut down, which would kill the process
    before the worker and the embedded Valkey stop; here a signal only asks it to exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


async def run_dev(settings: Settings) -> None:
    """API and an in-loop worker until Ctrl-C / SIGTERM (uvicorn owns the signals)."""
    from fastproc.api.app import create_app
    worker = create_worker(settings, handle_signals=False)
    config = uvicorn.Config(create_app(settings), host=settings.host, port=settings.port,
                            log_config=None, lifespan="on", loop="none", http=HTTP)
    server = _InProcessServer(config)
    worker_task = asyncio.create_task(worker.async_run(), name="fastproc-worker")
    try:
        await server.serve()
    finally:
        worker_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker_task
        await worker.close()


def dev(settings: Settings) -> None:
    with contextlib.ExitStack() as stack:
        if not settings.redis_url:
            settings.redis_url = stack.enter_context(embedded_valkey())
            logger.info("embedded Valkey at {}", settings.redis_url)
        logger.info("fastproc dev on http://{}:{}", settings.host, settings.port)
        asyncio.run(run_dev(settings))


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
