"""The dev server proper: the API and an arq worker in one event loop, and how they stop.

Ctrl-C, SIGTERM or SIGHUP stops both as `fastproc worker` stops: the worker takes no new jobs,
running ones get `FASTPROC_SHUTDOWN_GRACE` seconds to finish, and whatever still runs then
is handed back to the queue (arq runs it again). The API stops accepting connections at once
and lets open requests finish within the same grace. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import signal

import uvicorn
from arq.worker import Worker
from fastapi import FastAPI
from loguru import logger
from redis.exceptions import RedisError

from fastproc._sse import allow_streams, end_streams
from fastproc.authoring.registry import Registry
from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.catalogue import forget_served
from fastproc.wire.keys import Keys
from fastproc.worker.launch import create_worker

#: Ctrl-C, a stop request, the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Shutdown:
    """The signal handlers of `fastproc dev`: one signal stops API and worker gracefully."""

    def __init__(self, worker: Worker, server: uvicorn.Server, app: FastAPI,
                 grace: float) -> None:
        self._worker = worker
        self._server = server
        self._app = app
        self._grace = grace
        self.signal: signal.Signals | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.stop, sig)

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)

    def stop(self, sig: signal.Signals) -> None:
        if self.signal is not None:
            logger.warning("stopping now on {}: running jobs go back to the queue", sig.name)
            self._server.force_exit = True
            self._worker.handle_sig(sig)
            return
        self.signal = sig
        self._server.should_exit = True
        self._release_waiting_requests()
        if self._grace:
            logger.info("stopping on {}: running jobs have {:g}s to finish "
                        "(signal again to stop now)", sig.name, self._grace)
            self._worker.handle_sig_wait_for_completion(sig)
        else:
            self._worker.handle_sig(sig)


    def _release_waiting_requests(self) -> None:
        """Requests that wait for a job (sync executions, event streams) answer now: the
        worker they wait for is stopping too, so uvicorn would wait the whole grace."""
        state = getattr(self._app.state, "fastproc", None)
        if state is not None:
            state.events.release()
        end_streams()  # sse-starlette's streams (it cannot see our handlers)


async def _serve(server: uvicorn.Server) -> int:
    """The API's exit code: uvicorn calls sys.exit when it cannot start (port taken,
    lifespan failed) after logging why."""
    try:
        await server.serve()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    if server.force_exit and server.started:
        # A forced exit skips the app's shutdown, whose waiting task the event loop would
        # then cancel with a traceback; the shutdown is quick, so it still runs.
        await server.lifespan.shutdown()
    return 0


async def run_dev(settings: Settings, registry: Registry) -> int:
    """API and an in-loop worker until Ctrl-C / SIGTERM; returns the exit code."""
    from fastproc.api.app import create_app
    from fastproc.api.server import QuietServer, http_protocol

    await _own_catalogue(settings)
    # arq installs its signal handlers on this loop; `_Shutdown` replaces them right away
    # (no await in between), so that one signal stops API and worker together.
    worker = create_worker(settings, registry)
    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port,
                            log_config=None, lifespan="on", loop="none",
                            http=http_protocol(settings),
                            timeout_graceful_shutdown=settings.shutdown_grace)
    server = QuietServer(config)  # one signal stops API and worker (`_Shutdown`)
    allow_streams()  # a dev server stopped before in this process ended them all
    shutdown = _Shutdown(worker, server, app, settings.shutdown_grace)
    shutdown.install()
    worker_task = asyncio.create_task(worker.async_run(), name="fastproc-worker")
    api_task = asyncio.create_task(_serve(server), name="fastproc-api")
    try:
        await asyncio.wait((worker_task, api_task), return_when=asyncio.FIRST_COMPLETED)
        if shutdown.signal is None:  # one part stopped on its own: stop the other
            server.should_exit = True
            worker_task.cancel()
        await asyncio.wait((worker_task, api_task))
    finally:
        shutdown.uninstall()
        await _close(worker)
    code = api_task.result()
    if not worker_task.cancelled() and worker_task.exception() is not None:
        logger.error("the worker stopped: {!r}", worker_task.exception())
        code = code or 1
    return code


async def _own_catalogue(settings: Settings) -> None:
    """The dev server serves its own modules only: what an earlier run (other `--processes`,
    or a file since edited) reported is forgotten before its worker reports, instead of
    being listed until it lapses (`FASTPROC_CATALOGUE_TTL`)."""
    redis = connect(settings)
    try:
        await forget_served(redis, Keys(settings.key_prefix))
    except (RedisError, OSError) as exc:  # the worker says so too, as it starts
        logger.warning("cannot replace the process catalogue: {}", exc)
    finally:
        await redis.aclose()


async def _close(worker: Worker) -> None:
    """arq's close: wait for cancelled jobs to be handed back, drop the health key."""
    try:
        await worker.close()
    except (RedisError, OSError) as exc:
        logger.warning("the worker could not close cleanly: {}", exc)
