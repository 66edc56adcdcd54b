"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from loguru import logger
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from fastproc.api.auth import KeyRing
from fastproc.api.body_limit import BodyLimit
from fastproc.api.direct import DirectRoutes
from fastproc.api.error_handlers import install_error_handlers
from fastproc.api.hosts import TrustedHosts, trusted_hosts
from fastproc.api.html import STATIC_DIR
from fastproc.api.html.error_pages import install_html_errors
from fastproc.api.html.render import STATIC_PATH, SWAGGER_UI_PATH
from fastproc.api.openapi import Security, openapi_30
from fastproc.api.routes import (
    dashboard,
    execute,
    html_forms,
    job_events,
    job_logs,
    job_management,
    jobs,
    landing,
    nodes,
    ops,
    processes,
    provenance,
)
from fastproc.api.state import AppState
from fastproc.execution import Executor
from fastproc.heap import settle_heap
from fastproc.jobs.service import JobService
from fastproc.ogc.limits import Limits
from fastproc.outputs.objects import OutputStore
from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.catalogue import Catalogue
from fastproc.store.event_hub import EventHub
from fastproc.store.operations import Operations
from fastproc.wire.keys import Keys


def create_app(settings: Settings | None = None) -> FastAPI:
    """An OGC API - Processes app for these settings; connections open in its lifespan.

    >>> app = create_app(Settings(redis_url="redis://localhost:6379/0"))
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = connect(settings)
        listener = connect(settings, socket_timeout=None)
        health_redis = connect(settings, socket_timeout=settings.health_timeout)
        keys = Keys(settings.key_prefix)
        events = EventHub(listener, keys.events)
        catalogue = Catalogue(redis, keys, settings.catalogue_refresh)
        limits = Limits(settings.max_inputs, settings.max_array_items,
                        settings.max_string_bytes, settings.max_json_depth)
        jobs = JobService.connect(redis, keys, job_ttl=settings.job_ttl,
                                  active_ttl=settings.active_job_ttl,
                                  queue_cap=settings.max_queued_per_process,
                                  cache_ttl=settings.cache_ttl,
                                  min_replicas=settings.redis_min_replicas,
                                  outputs=(OutputStore.from_url(
                                      settings.output_store,
                                      presign=settings.output_links == "presigned")
                                           if settings.output_store else None))
        app.state.fastproc = AppState(
            settings=settings,
            redis=redis,
            keys=keys,
            catalogue=catalogue,
            events=events,
            limits=limits,
            auth=KeyRing(settings),
            jobs=jobs,
            execution=Executor(settings, limits, catalogue, events, jobs),
            operations=Operations(redis, health_redis, keys),
        )
        # What start-up built lives as long as the process: out of the cycle collector's way.
        settle_heap()
        try:
            yield
        finally:
            await events.stop()
            await redis.aclose()
            await listener.aclose()
            await health_redis.aclose()

    app = FastAPI(
        title=settings.title,
        version="0.1.0",
        description=settings.description,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        # FastAPI's own OpenTelemetry checks on every request whether an SDK is configured.
        telemetry=None if settings.otel else {"tracing": False, "metrics": False,
                                              "logs": False},
    )
    install_error_handlers(app)
    install_html_errors(app, settings.base_url)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_middleware(DirectRoutes)  # inside the body limit and the host check
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(TrustedHosts, patterns=trusted_hosts(settings))  # outermost: first
    for module in (landing, processes, execute, job_management, provenance, jobs, job_events,
                   nodes,
                   html_forms, ops, dashboard, job_logs):
        app.include_router(module.router)
    # Swagger UI's assets first: its mount lies inside the one of the pages' own assets.
    app.mount(SWAGGER_UI_PATH, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")

    def openapi() -> dict[str, Any]:
        return openapi_30(app, Security(keys=KeyRing(settings).enabled,
                                        metrics_key=bool(settings.metrics_key)))

    app.openapi = openapi  # type: ignore[method-assign]
    return app


async def _client_gone(request: Request, exc: Exception) -> Response:
    """A client that hangs up mid-request is routine, not a server error: one line, no
    traceback, and an answer nobody will read."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    logger.info("{} disconnected before its request to {} {} was read",
                client, request.method, request.url.path)
    return Response(status_code=400)
