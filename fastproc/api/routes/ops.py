"""`/health` and `/metrics`: what operators, load balancers and autoscalers read.

Queue depth (`fastproc_queue_depth`) is the number an autoscaler such as KEDA scales
workers on. Counters live in Redis (`{p}:stats`, written by the job state machine), so
every API replica reports the same cluster-wide figures; `fastproc.api.metrics` turns one
scrape's reading into Prometheus families with `prometheus_client`.

`/health` talks to Redis on a connection of its own whose calls time out after
`FASTPROC_HEALTH_TIMEOUT`: a load balancer's probe must hear 503 from a frozen Redis in
about a second, not after the API's own Redis timeout.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.auth import require_metrics_key
from fastproc.api.metrics import Snapshot, exposition
from fastproc.api.responses import JSONResponse
from fastproc.api.state import AppState, get_state
from fastproc.redis import connect
from fastproc.store.job_store import STATS_TTL


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Nested in the app's lifespan (its settings are there): the health check's connection."""
    settings = app.state.fastproc.settings
    app.state.health_redis = connect(settings, socket_timeout=settings.health_timeout)
    try:
        yield
    finally:
        await app.state.health_redis.aclose()


router = APIRouter(tags=["Operations"], lifespan=_lifespan)
State = Annotated[AppState, Depends(get_state)]


async def _queues(state: AppState, redis: Redis) -> dict[str, int]:
    queues = {p.entry.queue for p in await state.catalogue.all()} | {state.settings.queue_name}
    async with redis.pipeline(transaction=False) as pipe:
        for queue in sorted(queues):
            pipe.zcard(queue)
        depths = await pipe.execute()
    return dict(zip(sorted(queues), (int(d) for d in depths), strict=True))


@router.get("/health", summary="Health of the API, Redis and the workers")
async def health(request: Request, state: State) -> Response:
    """200 when Redis answers and a worker reported within its health interval, else 503."""
    redis: Redis = request.app.state.health_redis
    try:
        started = time.perf_counter()
        await redis.ping()
        latency_ms = (time.perf_counter() - started) * 1000
        queues = await _queues(state, redis)
        async with redis.pipeline(transaction=False) as pipe:
            for queue in queues:
                pipe.get(state.keys.health(queue))
            beats = await pipe.execute()
    except (RedisError, OSError) as exc:
        return JSONResponse({"status": "unavailable", "redis": {"ok": False,
                                                               "error": str(exc)}},
                            status_code=503)
    workers = {queue: beat.decode() if beat else None
               for queue, beat in zip(queues, beats, strict=True)}
    ok = any(workers.values())
    body = {
        "status": "ok" if ok else "degraded",
        "redis": {"ok": True, "latency_ms": round(latency_ms, 2)},
        "workers": workers,
        "queue_depth": queues,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, state: State) -> Response:
    require_metrics_key(request, state.settings.metrics_key)
    queues = await _queues(state, state.redis)
    async with state.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(state.keys.stats)
        pipe.expire(state.keys.stats, STATS_TTL)
        raw, _ = await pipe.execute()
    stats = {k.decode(): v.decode() for k, v in raw.items()}
    body, content_type = exposition(Snapshot(queues, stats), request.headers.get("accept", ""))
    return Response(body, media_type=content_type)
