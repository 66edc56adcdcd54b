"""`/health` and `/metrics` against the real stack."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.support import submit_async, wait_job


def test_health_reports_redis_workers_and_queue_depth(client: httpx.Client,
                                                      key_prefix: str) -> None:
    response = client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["redis"]["ok"] is True
    queue = f"{key_prefix}:queue"
    assert body["workers"][queue] and "j_complete" in body["workers"][queue]
    assert body["queue_depth"][queue] >= 0


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with exactly `labels` (in any order, as Prometheus
    reads them)."""
    for match in re.finditer(rf"^{name}{{(.*)}} (\S+)$", text, re.MULTILINE):
        if dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1))) == labels:
            return float(match.group(2))
    raise AssertionError(f"{name}{labels} not in metrics")


def test_metrics_count_jobs_durations_and_cache_hits(client: httpx.Client) -> None:
    before = client.get("/metrics").text
    base_ok = _metric(before, "fastproc_jobs_total", process="add", status="successful") \
        if 'process="add",status="successful"' in before else 0.0
    job_id = submit_async(client, "add", {"a": 1, "b": uuid.uuid4().int % 1000})
    assert wait_job(client, job_id)["status"] == "successful"
    value = uuid.uuid4().hex
    for _ in range(2):
        client.post("/processes/echo/execution", json={"inputs": {"value": value}})
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert _metric(text, "fastproc_jobs_total", process="add", status="successful") == base_ok + 1
    assert _metric(text, "fastproc_job_duration_seconds_count", process="add") >= 1
    assert _metric(text, "fastproc_job_duration_seconds_bucket", process="add", le="+Inf") >= 1
    assert _metric(text, "fastproc_cache_hits_total", process="echo") >= 1
    assert re.search(r'^fastproc_queue_depth\{queue="[^"]+"\} \d+(\.0)?$', text, re.MULTILINE)
