"""The dashboard's arithmetic and drawing, without a server: percentiles from the duration
histogram, queued and running jobs from the stats counters, the cache hit rate over the
last minutes, what the aggregate and totals views leave out, and charts that escape what
they show."""

from __future__ import annotations

import pytest

from fastproc.api.insights import OperatorKeys
from fastproc.api.insights.charts import (
    Bar,
    Phase,
    seconds_text,
    throughput_chart,
    timeline_chart,
)
from fastproc.api.insights.feed import CacheHistory
from fastproc.api.insights.figures import CacheRate, Figures, View, quantile
from fastproc.store.activity import BUCKETS, Failure, Reading, WorkerFigures, bucket_of

NOW_MS = 1_800_000_000_000


def _reading(stats: dict[str, str], ended: dict[int, dict[str, int]] | None = None
             ) -> Reading:
    now = bucket_of(NOW_MS)
    buckets = range(now - BUCKETS + 1, now + 1)
    return Reading(
        at_ms=NOW_MS, stats=stats, queue_depths={"q": 3},
        ended={b: (ended or {}).get(b, {}) for b in buckets}, depths={now: 3},
        failures=[Failure("f" * 32, "add", "2027-01-15T08:00:00Z", "boom <b>")],
        workers=[WorkerFigures("w1", NOW_MS + 30_000, {
            "host": "node-7", "pid": "42", "queue": "q", "processes": "add,echo",
            "running": "2", "done": "5", "failed": "1", "retried": "0",
            "beat": "2027-01-15T08:00:00Z"})],
        health={"q": "j_complete=5"})


def test_quantiles_interpolate_inside_the_bucket_and_stop_at_the_last_bound() -> None:
    assert quantile(0.5, {}) is None
    assert quantile(0.5, {"1": 10}) == pytest.approx(0.75)  # in (0.5, 1]
    assert quantile(0.95, {"0.1": 5, "0.5": 5}) == pytest.approx(0.46)  # 0.1 + 0.4 * 4.5/5
    assert quantile(0.99, {"1": 1, "+Inf": 99}) == 1800.0


def test_queued_and_running_per_process_come_from_the_counters() -> None:
    stats = {"submitted|add": "10", "started|add": "7", "jobs|add|successful": "4",
             "jobs|add|failed": "1", "jobs|add|dismissed": "1", "dur|add|1": "5",
             "cachehit|add": "3"}
    figures = Figures.of(_reading(stats), ["add", "echo"], CacheRate(None, None))
    add = next(p for p in figures.processes if p.process_id == "add")
    # 7 started, 5 of them ended: 2 running; 10 submitted, 7 started, 1 dismissed unstarted.
    assert (add.running, add.queued, add.jobs, add.cache_hits) == (2, 2, 5, 3)
    assert add.success_rate == pytest.approx(0.8)
    assert [p.process_id for p in figures.processes] == ["add", "echo"]
    assert (figures.running, figures.queued) == (2, 2)


def test_recent_outcomes_count_only_the_last_five_minutes() -> None:
    now = bucket_of(NOW_MS)
    ended = {now: {"successful": 2, "failed": 1}, now - 29: {"successful": 3},
             now - 30: {"successful": 100}}
    figures = Figures.of(_reading({}, ended), [], CacheRate(None, None))
    assert (figures.succeeded_recent, figures.failed_recent) == (5, 1)
    assert len(figures.throughput) == BUCKETS
    assert sum(b.successful for b in figures.throughput) == 105


def test_an_aggregate_view_has_no_job_ids_messages_or_worker_names() -> None:
    figures = Figures.of(_reading({"submitted|add": "1"}), ["add"], CacheRate(0.5, 60))
    full = figures.document(view=View.OPERATOR, base="http://h")
    aggregate = figures.document(view=View.AGGREGATE, base="http://h")
    assert full["failures"][0]["href"] == f"http://h/jobs/{'f' * 32}"
    assert full["workers"][0]["name"] == "node-7:42"
    assert "workers" not in aggregate and "failures" not in aggregate
    text = str(aggregate)
    for secret in ("f" * 32, "boom", "node-7", "j_complete"):
        assert secret not in text
    assert aggregate["now"]["workers"] == 1 and aggregate["now"]["cacheHitRate"] == 0.5
    assert aggregate["processes"][0]["processID"] == "add"


def test_a_totals_view_has_nothing_per_process_or_queue() -> None:
    figures = Figures.of(_reading({"submitted|add": "1"}), ["add"], CacheRate(0.5, 60))
    totals = figures.document(view=View.TOTALS, base="http://h")
    assert totals["view"] == "totals" and totals["now"]["queued"] == 1
    assert not {"processes", "queues", "workers", "failures"} & totals.keys()
    assert "'add'" not in str(totals)


def test_the_cache_hit_rate_covers_the_readings_of_the_last_minutes() -> None:
    history = CacheHistory()
    assert history.rate(0, 10, 30) == CacheRate(0.25, None)  # one reading: all time
    assert history.rate(60_000, 13, 31) == CacheRate(0.75, 60.0)
    late = history.rate(400_000, 13, 35)  # the first reading is now over 5 minutes old
    assert late == CacheRate(0.0, 340.0)


def test_operator_keys_match_in_full_only() -> None:
    keys = OperatorKeys(["ops:secret-1", "bare-secret"])
    assert keys.enabled
    assert keys.identify("secret-1") == "ops" and keys.identify("bare-secret") == "operator1"
    assert not keys.identify("secret") and not keys.identify(None)
    assert not keys.identify("ops")


def test_charts_escape_their_labels_and_draw_each_bucket() -> None:
    bars = [Bar(NOW_MS, 2, 1), Bar(NOW_MS + 10_000, 0, 0)]
    svg = str(throughput_chart(bars, 15))
    assert svg.startswith("<svg") and svg.count('class="ok"') == 1
    assert "2 successful, 1 failed" in svg
    timeline = str(timeline_chart([Phase("<queued>", 0.0, 1.5, "wait"),
                                   Phase("ran", 1.5, 4.0, "ok")]))
    assert "&lt;queued&gt; 1.5 s" in timeline and "<queued>" not in timeline
    assert "ran 2.5 s" in timeline


def test_durations_read_as_people_read_them() -> None:
    assert [seconds_text(s) for s in (None, 0.25, 3.44, 125, 3780)] == [
        "-", "250 ms", "3.4 s", "2 min 5 s", "1 h 3 min"]
