"""The dashboard's figures, made from one reading of Redis (`fastproc.store.activity`).

Everything here is arithmetic on what the reading holds: queued and running jobs per
process from the stats hash's counters (submitted, started, ended, and the duration
histogram, which counts exactly the ended jobs that had started), p50/p95 from that
histogram as Prometheus' `histogram_quantile` estimates them, rates from the 10-s buckets.
`Figures.document` is the JSON of `/dashboard?f=json`, for each `View`: everything for an
operator; without the job ids, error messages and worker names for a tenant; the service's
totals only for a caller without a key while keys are on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from fastproc.api.insights.charts import Bar
from fastproc.api.metrics import BUCKET_BOUNDS
from fastproc.ogc.models import StatusCode
from fastproc.store.activity import (
    BUCKET_SECONDS,
    WINDOW_SECONDS,
    Failure,
    Reading,
    WorkerFigures,
)
from fastproc.store.record import parse_iso

#: "Now" on the dashboard: jobs ended in the last this many seconds.
RECENT_SECONDS = 5 * 60


class View(StrEnum):
    """What a caller of the dashboard sees (`view` in its JSON)."""

    #: Everything: workers, job ids, error messages (an operator key, or no keys at all).
    OPERATOR = "operator"
    #: Figures per process and queue, nobody's jobs (a tenant's key, or no API keys).
    AGGREGATE = "aggregate"
    #: The service's totals only (no key while API keys are on): how busy each process
    #: is tells of other tenants' work.
    TOTALS = "totals"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def quantile(q: float, counts: Mapping[str, int]) -> float | None:
    """The q-quantile of a histogram of counts per upper bound (not cumulative),
    interpolated inside its bucket; the highest finite bound for the +Inf bucket."""
    total = sum(counts.values())
    if not total:
        return None
    rank = q * total
    seen, lower = 0, 0.0
    for bound in BUCKET_BOUNDS:
        n = counts.get(bound, 0)
        if bound == "+Inf":
            return lower
        upper = float(bound)
        if n and seen + n >= rank:
            return lower + (upper - lower) * (rank - seen) / n
        seen += n
        lower = upper
    return lower


@dataclass
class _Counters:
    """The stats hash of one process."""

    submitted: int = 0
    started: int = 0
    cache_hits: int = 0
    ended: dict[str, int] = field(default_factory=dict)
    durations: dict[str, int] = field(default_factory=dict)

    @property
    def ended_after_start(self) -> int:
        return sum(self.durations.values())

    @property
    def running(self) -> int:
        # Counters expire together but may have started at different times: never < 0.
        return max(0, self.started - self.ended_after_start)

    @property
    def queued(self) -> int:
        never_started = sum(self.ended.values()) - self.ended_after_start
        return max(0, self.submitted - self.started - never_started)


def _parse_stats(raw: Mapping[str, str]) -> dict[str, _Counters]:
    """`jobs|p|status`, `submitted|p`, `started|p`, `dur|p|le`, `cachehit|p` by process."""
    out: dict[str, _Counters] = defaultdict(_Counters)
    for name, value in raw.items():
        kind, _, rest = name.partition("|")
        if kind in ("jobs", "dur"):
            process, _, label = rest.rpartition("|")
            target = out[process].ended if kind == "jobs" else out[process].durations
            target[label] = int(value)
        elif kind in ("submitted", "started"):
            setattr(out[rest], kind, int(value))
        elif kind == "cachehit":
            out[rest].cache_hits = int(value)
    return out


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    process_id: str
    successful: int
    failed: int
    p50: float | None
    p95: float | None
    cache_hits: int
    queued: int
    running: int

    @property
    def jobs(self) -> int:
        return self.successful + self.failed

    @property
    def success_rate(self) -> float | None:
        return self.successful / self.jobs if self.jobs else None

    def document(self) -> dict[str, Any]:
        return {"processID": self.process_id, "jobs": self.jobs, "successful": self.successful,
                "failed": self.failed, "successRate": self.success_rate,
                "p50Seconds": self.p50, "p95Seconds": self.p95, "cacheHits": self.cache_hits,
                "queued": self.queued, "running": self.running}


@dataclass(frozen=True, slots=True)
class WorkerRow:
    worker_id: str
    host: str
    pid: str
    queue: str
    processes: list[str]
    running: int
    done: int
    failed: int
    retried: int
    beat: str
    beat_age: float | None

    @classmethod
    def of(cls, worker: WorkerFigures, at_ms: int) -> WorkerRow:
        beat = worker.text("beat")
        age = None
        if beat:
            age = max(0.0, at_ms / 1000 - parse_iso(beat).timestamp())
        processes = [p for p in worker.text("processes").split(",") if p]
        return cls(worker.worker_id, worker.text("host"), worker.text("pid"),
                   worker.text("queue"), processes, worker.number("running"),
                   worker.number("done"), worker.number("failed"),
                   worker.number("retried"), beat, age)

    @property
    def name(self) -> str:
        return f"{self.host}:{self.pid}" if self.host else self.worker_id[:8]

    def document(self) -> dict[str, Any]:
        return {"id": self.worker_id, "name": self.name, "queue": self.queue,
                "processes": self.processes, "running": self.running, "done": self.done,
                "failed": self.failed, "retried": self.retried, "heartbeat": self.beat or None,
                "heartbeatAgeSeconds": None if self.beat_age is None else round(self.beat_age, 1)}


@dataclass(frozen=True, slots=True)
class CacheRate:
    """Share of requests answered from the result cache, over `seconds` (None: since the
    counters began)."""

    rate: float | None
    seconds: float | None


@dataclass(frozen=True, slots=True)
class Figures:
    at_ms: int
    queued: int
    running: int
    succeeded_recent: int
    failed_recent: int
    cache: CacheRate
    queue_depths: Mapping[str, int]
    health: Mapping[str, str | None]
    throughput: list[Bar]
    depth: list[tuple[int, int | None]]
    processes: list[ProcessFigures]
    workers: list[WorkerRow]
    failures: list[Failure]

    @property
    def tasks_waiting(self) -> int:
        return sum(self.queue_depths.values())

    @classmethod
    def of(cls, reading: Reading, process_ids: Iterable[str], cache: CacheRate) -> Figures:
        counters = _parse_stats(reading.stats)
        processes = [
            ProcessFigures(
                pid, c.ended.get(StatusCode.SUCCESSFUL.value, 0),
                c.ended.get(StatusCode.FAILED.value, 0), quantile(0.5, c.durations),
                quantile(0.95, c.durations), c.cache_hits, c.queued, c.running)
            for pid, c in sorted({**{p: counters[p] for p in process_ids},
                                  **counters}.items())
        ]
        bars = [Bar(b * BUCKET_SECONDS * 1000,
                    reading.ended[b].get(StatusCode.SUCCESSFUL.value, 0),
                    reading.ended[b].get(StatusCode.FAILED.value, 0)) for b in reading.buckets]
        recent = bars[-(RECENT_SECONDS // BUCKET_SECONDS):]
        return cls(
            at_ms=reading.at_ms,
            queued=sum(p.queued for p in processes),
            running=sum(p.running for p in processes),
            succeeded_recent=sum(b.successful for b in recent),
            failed_recent=sum(b.failed for b in recent),
            cache=cache, queue_depths=reading.queue_depths, health=reading.health,
            throughput=bars,
            depth=[(b * BUCKET_SECONDS * 1000, reading.depths.get(b)) for b in reading.buckets],
            processes=processes,
            workers=sorted((WorkerRow.of(w, reading.at_ms) for w in reading.workers),
                           key=lambda w: (w.queue, w.name)),
            failures=reading.failures,
        )

    def document(self, *, view: View, base: str) -> dict[str, Any]:
        """The JSON of `/dashboard` as this view shows it."""
        full = view is View.OPERATOR
        doc: dict[str, Any] = {
            "time": iso(self.at_ms),
            "view": view.value,
            "bucketSeconds": BUCKET_SECONDS,
            "windowSeconds": WINDOW_SECONDS,
            "now": {
                "queued": self.queued, "running": self.running,
                "successfulLast5min": self.succeeded_recent,
                "failedLast5min": self.failed_recent,
                "cacheHitRate": self.cache.rate, "cacheHitRateSeconds": self.cache.seconds,
                "tasksWaiting": self.tasks_waiting, "workers": len(self.workers),
            },
            "throughput": [{"start": iso(b.start_ms), "successful": b.successful,
                            "failed": b.failed} for b in self.throughput],
            "queueDepth": [{"start": iso(ms), "tasksWaiting": n} for ms, n in self.depth],
        }
        if view is not View.TOTALS:
            doc["queues"] = [{"queue": q, "tasksWaiting": n,
                              **({"health": self.health.get(q)} if full else {})}
                             for q, n in sorted(self.queue_depths.items())]
            doc["processes"] = [p.document() for p in self.processes]
        if full:
            doc["workers"] = [w.document() for w in self.workers]
            doc["failures"] = [
                {"jobID": f.job_id, "processID": f.process_id, "finished": f.finished,
                 "message": f.message, "href": f"{base}/jobs/{f.job_id}"}
                for f in self.failures]
        return doc
