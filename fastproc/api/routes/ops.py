"""`/health` and `/metrics`: what operators, load balancers and autoscalers read.

Queue depth (`fastproc_queue_depth`) is the number an autoscaler such as KEDA scales
workers on. Counters live in Redis (`{p}:stats`, written by the job state machine), so
every API replica reports the same cluster-wide figures; `fastproc.api.metrics` turns one
scrape's reading into Prometheus families with `prometheus_client`. The readings are
`fastproc.store.operations`' (the health check's on a connection with a short timeout).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.auth import require_metrics_key
from fastproc.api.metrics import Snapshot, exposition
from fastproc.api.responses import JSONResponse
from fastproc.api.state import AppState, get_state

router = APIRouter(tags=["Operations"])
State = Annotated[AppState, Depends(get_state)]


async def _queues(state: AppState) -> set[str]:
    return {p.entry.queue for p in await state.catalogue.all()} | {state.settings.queue_name}


@router.get("/health", summary="Health of the API, Redis and the workers")
async def health(state: State) -> Response:
    """200 when Redis answers and a worker reported within its health interval, else 503."""
    try:
        reading = await state.operations.health(await _queues(state))
    except (RedisError, OSError) as exc:
        return JSONResponse({"status": "unavailable", "redis": {"ok": False,
                                                               "error": str(exc)}},
                            status_code=503)
    ok = any(reading.workers.values())
    body = {
        "status": "ok" if ok else "degraded",
        "redis": {"ok": True, "latency_ms": round(reading.latency_ms, 2)},
        "workers": reading.workers,
        "queue_depth": reading.depths,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, state: State) -> Response:
    require_metrics_key(request, state.settings.metrics_key)
    reading = await state.operations.metrics(await _queues(state))
    body, content_type = exposition(Snapshot(reading.depths, reading.stats),
                                    request.headers.get("accept", ""))
    return Response(body, media_type=content_type)
