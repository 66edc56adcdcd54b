"""fastproc's Prometheus metrics: a `prometheus_client` collector over one scrape's figures.

The counters are not kept in this process: the job state machine writes them to Redis
(`{p}:stats`) so every API replica reports the same cluster-wide figures. The route reads them
once per scrape into a `Snapshot` and this collector turns that into metric families;
`prometheus_client` writes the exposition format (text or OpenMetrics, as the scraper's
`Accept` asks) and escapes the labels.

>>> body, content_type = exposition(Snapshot({"q": 2}, {"jobs|add|successful": "3"}), "")
>>> b'fastproc_jobs_total{process="add",status="successful"} 3.0' in body
True
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from fastproc.store.scripts import DURATION_BUCKETS

#: `le` labels of the duration histogram, spelled as the state machine counts them in Redis.
BUCKET_BOUNDS = (*(str(bound) for bound in DURATION_BUCKETS), "+Inf")


@dataclass(frozen=True)
class Snapshot:
    """What one scrape read: depth of each queue and the `{p}:stats` hash (decoded).

    The hash's fields are `jobs|<process>|<status>` (jobs that ended), `submitted|<process>`,
    `dur|<process>|<le>` (jobs whose run fell in a bucket, not cumulative),
    `dursum|<process>`, `cachehit|<process>` and `dropped|<queue>|<reason>` (tasks a worker
    dropped unrun: `fastproc.wire.message.DropReason`).
    """

    queue_depths: Mapping[str, int]
    stats: Mapping[str, str]


@dataclass
class _Stats:
    """The stats hash sorted by what each field counts."""

    ended: dict[tuple[str, str], int] = field(default_factory=dict)
    submitted: dict[str, int] = field(default_factory=dict)
    buckets: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    sums: dict[str, float] = field(default_factory=dict)
    cache_hits: dict[str, int] = field(default_factory=dict)
    dropped: dict[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> _Stats:
        stats = cls()
        for name, value in sorted(raw.items()):
            kind, _, rest = name.partition("|")
            if kind == "jobs":
                process, _, status = rest.rpartition("|")
                stats.ended[process, status] = int(value)
            elif kind == "submitted":
                stats.submitted[rest] = int(value)
            elif kind == "dur":
                process, _, le = rest.rpartition("|")
                stats.buckets[process][le] = int(value)
            elif kind == "dursum":
                stats.sums[rest] = float(value)
            elif kind == "cachehit":
                stats.cache_hits[rest] = int(value)
            elif kind == "dropped":
                queue, _, reason = rest.rpartition("|")
                stats.dropped[queue, reason] = int(value)
        return stats

    def active(self) -> dict[str, int]:
        """Jobs submitted and not yet ended, per process (never below zero: the counters
        expire, so an old end may outlive its submission)."""
        ended: dict[str, int] = defaultdict(int)
        for (process, _), count in self.ended.items():
            ended[process] += count
        return {p: max(0, n - ended[p]) for p, n in self.submitted.items()}


class FastprocCollector(Collector):
    """The metric families of one `Snapshot`; built per scrape, never registered globally."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        stats = _Stats.parse(self.snapshot.stats)
        depth = GaugeMetricFamily(
            "fastproc_queue_depth", "Jobs waiting in an arq queue (scale workers on this).",
            labels=["queue"])
        for queue, count in sorted(self.snapshot.queue_depths.items()):
            depth.add_metric([queue], count)
        yield depth
        ended = CounterMetricFamily(
            "fastproc_jobs_total", "Jobs that ended, by process and final status.",
            labels=["process", "status"])
        for (process, status), count in stats.ended.items():
            ended.add_metric([process, status], count)
        yield ended
        active = GaugeMetricFamily(
            "fastproc_jobs_active", "Jobs accepted or running, by process.", labels=["process"])
        for process, count in stats.active().items():
            active.add_metric([process], count)
        yield active
        hits = CounterMetricFamily(
            "fastproc_cache_hits_total", "Requests answered from the result cache.",
            labels=["process"])
        for process, count in stats.cache_hits.items():
            hits.add_metric([process], count)
        yield hits
        dropped = CounterMetricFamily(
            "fastproc_queue_messages_dropped",
            "Queued tasks a worker dropped unrun because it could not read them (written by "
            "hand or corrupted), by queue and reason; their jobs failed.",
            labels=["queue", "reason"])
        for (queue, reason), count in stats.dropped.items():
            dropped.add_metric([queue, reason], count)
        yield dropped
        yield _durations(stats)


def _durations(stats: _Stats) -> HistogramMetricFamily:
    durations = HistogramMetricFamily(
        "fastproc_job_duration_seconds", "Run time of jobs, start to end.", labels=["process"])
    for process, counts in sorted(stats.buckets.items()):
        cumulative: list[tuple[str, float]] = []
        running = 0
        for bound in BUCKET_BOUNDS:
            running += counts.get(bound, 0)
            cumulative.append((bound, running))
        durations.add_metric([process], cumulative, stats.sums.get(process, 0.0))
    return durations


def exposition(snapshot: Snapshot, accept: str) -> tuple[bytes, str]:
    """The body and content type of a scrape, in the format the scraper's `Accept` asks for."""
    encode, content_type = choose_encoder(accept)
    return encode(FastprocCollector(snapshot)), content_type
