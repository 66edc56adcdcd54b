"""Fan-out across worker processes: sharing parts, and surviving a worker killed mid-job.

These tests run their own API and two workers under a separate key prefix and queue, with
short time limits, so that arq re-runs a lost part within seconds.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.support import Processes, assert_no_orphaned_running, submit_async, wait_job


@pytest.fixture(scope="module")
def cluster(procs: Processes, r: redis.Redis, key_prefix: str
            ) -> Iterator[tuple[httpx.Client, list[object], str]]:
    stack = procs.stack(r, key_prefix, workers=2, FASTPROC_WORKER_CONCURRENCY="2",
                        FASTPROC_JOB_TIMEOUT="1", FASTPROC_HARD_TIMEOUT_GRACE="0.5",
                        FASTPROC_MAX_TRIES="3", FASTPROC_WORKER_LEASE="3")
    with stack.client(timeout=30) as client:
        yield client, list(stack.workers), stack.prefix


def test_two_workers_share_the_parts_of_one_job(cluster: tuple[httpx.Client, list[object], str]
                                                ) -> None:
    client, workers, _ = cluster
    job_id = submit_async(client, "slow_parts", {"n": 12, "delay": 0.2}, response="document")
    assert wait_job(client, job_id)["status"] == "successful"
    result = client.get(f"/jobs/{job_id}/results").json()
    assert result["order"] == list(range(12))
    assert result["pids"] == sorted(w.pid for w in workers)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_job_survives_a_worker_killed_mid_job(cluster: tuple[httpx.Client, list[object], str],
                                             r: redis.Redis) -> None:
    client, workers, prefix = cluster
    job_id = submit_async(client, "slow_parts", {"n": 12, "delay": 0.4, "tag": "crash"},
                          response="document")
    wait_job(client, job_id, until=lambda s: s.get("progress", 0) > 0)
    victim = workers[0]
    victim.send_signal(signal.SIGKILL)  # type: ignore[attr-defined]
    victim.wait(timeout=5)  # type: ignore[attr-defined]
    status = wait_job(client, job_id, timeout=60)
    assert status["status"] == "successful", status
    result = client.get(f"/jobs/{job_id}/results").json()
    assert result["order"] == list(range(12)), "a part was lost or merged twice"
    assert_no_orphaned_running(r, prefix, f"{prefix}:queue")
    assert r.hgetall(f"{prefix}:job:{job_id}") and not r.exists(f"{prefix}:join:{job_id}")
