"""`/health` and `/metrics`: what operators, load balancers and autoscalers read.

Queue depth (`fastproc_queue_depth`) is the number an autoscaler such as KEDA scales
workers on. Counters live in Redis (`{p}:stats`, written by the job state machine), so
every API replica reports the same cluster-wide figures.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, Depends
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.auth import require_metrics_key
from fastproc.api.responses import JSONResponse
from fastproc.api.state import AppState, get_state
from fastproc.jobs.scripts import DURATION_BUCKETS
from fastproc.jobs.store import STATS_TTL

router = APIRouter(tags=["Operations"])
State = Annotated[AppState, Depends(get_state)]


async def _queues(state: AppState) -> dict[str, int]:
    queues = {p.entry.queue for p in await state.catalogue.all()} | {state.settings.queue_name}
    async with state.redis.pipeline(transaction=False) as pipe:
        for queue in sorted(queues):
            pipe.zcard(queue)
        depths = await pipe.execute()
    return dict(zip(sorted(queues), (int(d) for d in depths), strict=True))


@router.get("/health", summary="Health of the API, Redis and the workers")
async def health(state: State) -> Response:
    """200 when Redis answers and a worker reported within its health interval, else 503."""
    try:
        started = time.perf_counter()
        await state.redis.ping()
        latency_ms = (time.perf_counter() - started) * 1000
        queues = await _queues(state)
        async with state.redis.pipeline(transaction=False) as pipe:
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


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, state: State) -> Response:
    require_metrics_key(request, state.settings.metrics_key)
    queues = await _queues(state)
    async with state.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(state.keys.stats)
        pipe.expire(state.keys.stats, STATS_TTL)
        raw, _ = await pipe.execute()
    stats = {k.decode(): v.decode() for k, v in raw.items()}
    lines = [
        "# HELP fastproc_queue_depth Jobs waiting in an arq queue (scale workers on this).",
        "# TYPE fastproc_queue_depth gauge",
        *(f'fastproc_queue_depth{{queue="{_label(q)}"}} {d}' for q, d in queues.items()),
    ]
    ended: dict[str, int] = defaultdict(int)
    submitted: dict[str, int] = {}
    buckets: dict[str, dict[str, int]] = defaultdict(dict)
    sums: dict[str, float] = {}
    hits: dict[str, int] = {}
    totals: list[str] = []
    for field, value in sorted(stats.items()):
        kind, _, rest = field.partition("|")
        if kind == "jobs":
            process, _, status = rest.rpartition("|")
            ended[process] += int(value)
            totals.append(f'fastproc_jobs_total{{process="{_label(process)}",'
                          f'status="{_label(status)}"}} {value}')
        elif kind == "submitted":
            submitted[rest] = int(value)
        elif kind == "dur":
            process, _, le = rest.rpartition("|")
            buckets[process][le] = int(value)
        elif kind == "dursum":
            sums[rest] = float(value)
        elif kind == "cachehit":
            hits[rest] = int(value)
    lines += ["# HELP fastproc_jobs_total Jobs that ended, by process and final status.",
              "# TYPE fastproc_jobs_total counter", *totals,
              "# HELP fastproc_jobs_active Jobs accepted or running, by process.",
              "# TYPE fastproc_jobs_active gauge"]
    lines += [f'fastproc_jobs_active{{process="{_label(p)}"}} {max(0, n - ended[p])}'
              for p, n in sorted(submitted.items())]
    lines += ["# HELP fastproc_cache_hits_total Requests answered from the result cache.",
              "# TYPE fastproc_cache_hits_total counter"]
    lines += [f'fastproc_cache_hits_total{{process="{_label(p)}"}} {n}'
              for p, n in sorted(hits.items())]
    lines += ["# HELP fastproc_job_duration_seconds Run time of jobs, start to end.",
              "# TYPE fastproc_job_duration_seconds histogram"]
    for process, counts in sorted(buckets.items()):
        running = 0
        name = _label(process)
        for bound in [*(str(b) for b in DURATION_BUCKETS), "+Inf"]:
            running += counts.get(bound, 0)
            lines.append(f'fastproc_job_duration_seconds_bucket{{process="{name}",'
                         f'le="{bound}"}} {running}')
        lines.append(f'fastproc_job_duration_seconds_sum{{process="{name}"}} '
                     f'{sums.get(process, 0.0)}')
        lines.append(f'fastproc_job_duration_seconds_count{{process="{name}"}} {running}')
    return Response("\n".join(lines) + "\n",
                    media_type="text/plain; version=0.0.4; charset=utf-8")
