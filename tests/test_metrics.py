"""The Prometheus exposition of fastproc's counters, read back with Prometheus' own parsers."""

from __future__ import annotations

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from fastproc.api.metrics import Snapshot, exposition

STATS = {
    "submitted|add": "5", "jobs|add|successful": "3", "jobs|add|failed": "1",
    "dur|add|0.5": "2", "dur|add|+Inf": "2", "dursum|add": "1801.5", "cachehit|echo": "4",
}


def _samples(body: bytes) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_a_process_name_with_quotes_backslashes_and_newlines_reads_back_unchanged() -> None:
    hostile = 'a"b\\c\nd'
    body, _ = exposition(Snapshot({"q": 0}, {f"jobs|{hostile}|successful": "7"}), "")
    samples = _samples(body)
    assert samples["fastproc_jobs_total",
                   frozenset({("process", hostile), ("status", "successful")})] == 7


def test_duration_buckets_are_cumulative_and_count_every_ended_run() -> None:
    samples = _samples(exposition(Snapshot({}, STATS), "")[0])

    def bucket(le: str) -> float:
        return samples["fastproc_job_duration_seconds_bucket",
                       frozenset({("process", "add"), ("le", le)})]

    assert [bucket(le) for le in ("0.1", "0.5", "1800", "+Inf")] == [0, 2, 2, 4]
    assert samples["fastproc_job_duration_seconds_count", frozenset({("process", "add")})] == 4
    assert samples["fastproc_job_duration_seconds_sum",
                   frozenset({("process", "add")})] == 1801.5


def test_active_jobs_are_submitted_minus_ended_and_never_negative() -> None:
    stats = {**STATS, "submitted|gone": "1", "jobs|gone|failed": "3"}
    samples = _samples(exposition(Snapshot({"p:queue": 2}, stats), "")[0])
    assert samples["fastproc_jobs_active", frozenset({("process", "add")})] == 1
    assert samples["fastproc_jobs_active", frozenset({("process", "gone")})] == 0
    assert samples["fastproc_queue_depth", frozenset({("queue", "p:queue")})] == 2
    assert samples["fastproc_cache_hits_total", frozenset({("process", "echo")})] == 4


def test_a_scraper_asking_for_openmetrics_gets_openmetrics() -> None:
    body, content_type = exposition(Snapshot({"q": 1}, STATS),
                                    "application/openmetrics-text; version=1.0.0,text/plain;q=0.5")
    assert content_type.startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(body.decode())}
    assert families["fastproc_jobs"].type == "counter"
    assert families["fastproc_job_duration_seconds"].type == "histogram"


def test_a_plain_scraper_gets_the_text_format() -> None:
    _, content_type = exposition(Snapshot({}, {}), "*/*")
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"


def test_dropped_tasks_are_counted_by_queue_and_reason() -> None:
    stats = {**STATS, "dropped|odd|queue|message": "2", "dropped|p:queue|id": "1"}
    samples = _samples(exposition(Snapshot({}, stats), "")[0])
    assert samples["fastproc_queue_messages_dropped_total",
                   frozenset({("queue", "odd|queue"), ("reason", "message")})] == 2
    assert samples["fastproc_queue_messages_dropped_total",
                   frozenset({("queue", "p:queue"), ("reason", "id")})] == 1
