"""`fastproc worker` and `arq fastproc.WorkerSettings` run the same job code: the same
end-to-end behaviours under either launcher (plain, fan-out, scatter, dismiss, time limit,
a worker killed mid-job), and arq's own health check against the configured Redis."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from fastproc.authoring.registry import Registry
from fastproc.settings import Settings
from fastproc.worker.arq_loop import Worker
from fastproc.worker.launch import create_worker, worker_settings
from tests.gated import Gates, step_gate
from tests.support import (
    ROOT,
    Processes,
    Stack,
    assert_no_orphaned_running,
    free_port,
    own_env,
    start_job,
    submit_async,
    wait_for,
    wait_job,
)

LAUNCHERS = ["fastproc", "arq"]

#: Short limits, so that a killed worker's task runs again within seconds.
FAST_RECOVERY = {"FASTPROC_WORKER_LEASE": "3", "FASTPROC_HARD_TIMEOUT_GRACE": "0.5",
                 "FASTPROC_STORE_RETRY": "2", "FASTPROC_FETCH_TIMEOUT": "5"}


def _stack(procs: Processes, r: redis.Redis, key_prefix: str, launcher: str,
           **settings: str) -> Stack:
    env = own_env(key_prefix, **FAST_RECOVERY, **settings)
    workers = [procs.worker(r, launcher=launcher, **env)]
    port = free_port()
    api = procs.api(port, **env)
    return Stack(f"http://127.0.0.1:{port}", env, workers, api)


@pytest.fixture(scope="module", params=LAUNCHERS)
def launched(request: pytest.FixtureRequest, procs: Processes, r: redis.Redis,
             key_prefix: str) -> Iterator[tuple[str, Stack, httpx.Client]]:
    """An API and one worker started by each launcher in turn."""
    stack = _stack(procs, r, key_prefix, request.param, FASTPROC_WORKER_CONCURRENCY="4")
    with stack.client(timeout=30) as client:
        yield request.param, stack, client
    for worker in stack.workers:
        worker.terminate()
        worker.wait(timeout=30)


def _results(client: httpx.Client, job_id: str) -> Any:
    response = client.get(f"/jobs/{job_id}/results")
    assert response.status_code == 200, response.text
    return response.json()


def test_a_plain_job_runs_sync_and_async(launched: tuple[str, Stack, httpx.Client]) -> None:
    _, _, client = launched
    sync = client.post("/processes/echo/execution",
                       json={"inputs": {"value": "hi"}, "outputs": {"value": {}}},
                       headers={"Cache-Control": "no-cache"})
    assert (sync.status_code, sync.text) == (200, "hi")
    job_id = submit_async(client, "add", {"a": 2, "b": 3}, response="document")
    assert wait_job(client, job_id)["status"] == "successful"
    assert _results(client, job_id)["sum"] == 5


def test_a_fan_out_merges_every_part_in_order(launched: tuple[str, Stack, httpx.Client]
                                              ) -> None:
    _, _, client = launched
    job_id = submit_async(client, "slow_parts", {"n": 9}, response="document")
    assert wait_job(client, job_id)["status"] == "successful"
    assert _results(client, job_id)["order"] == list(range(9))


def test_a_scatter_runs_each_step(launched: tuple[str, Stack, httpx.Client]) -> None:
    _, _, client = launched
    job_id = submit_async(client, "text_stats", {"text": "b a b"}, response="document")
    assert wait_job(client, job_id)["status"] == "successful"
    assert _results(client, job_id) == {"word_count": 3, "char_count": 5,
                                        "unique_words": ["a", "b"]}


def test_dismissing_a_running_job_aborts_its_task(
    launched: tuple[str, Stack, httpx.Client], r: redis.Redis, tmp_path: Path,
) -> None:
    _, _, client = launched
    gates = Gates(tmp_path / "gates")
    try:
        job_id = submit_async(client, "stepwise", {"gate": gates.path, "steps": 2})
        wait_for(lambda: gates.reached(step_gate(1)), 30, "the job to reach its first gate")
        dismissed = client.delete(f"/jobs/{job_id}")
        assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"
        # The task is cancelled while it waits at a gate nobody opens.
        wait_for(lambda: not r.exists(f"arq:in-progress:{job_id}", f"arq:job:{job_id}"), 30,
                 "the job's task to be aborted")
        assert not gates.reached(step_gate(2))
        assert client.get(f"/jobs/{job_id}").json()["status"] == "dismissed"
    finally:
        gates.open_all()


def test_a_job_past_its_time_limit_fails(launched: tuple[str, Stack, httpx.Client]) -> None:
    _, _, client = launched
    job_id = start_job(client, "slow_cleanup", {"seconds": 600}).id
    failed = wait_job(client, job_id, timeout=60)
    assert failed["status"] == "failed" and "time limit of 0.5 s" in failed["message"], failed


@pytest.mark.slow
@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_job_whose_worker_is_killed_runs_again_within_the_lease(
    procs: Processes, r: redis.Redis, key_prefix: str, launcher: str,
) -> None:
    # A long time limit: only the lease (3 s) can bring the task back this soon.
    stack = _stack(procs, r, key_prefix, launcher, FASTPROC_JOB_TIMEOUT="600")
    with stack.client(timeout=30) as client:
        job_id = submit_async(client, "sleep", {"seconds": 1.5})
        wait_job(client, job_id, until=lambda s: s["status"] == "running")
        victim = stack.workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        procs.worker(r, launcher=launcher, **stack.env)
        assert wait_job(client, job_id, timeout=60)["status"] == "successful"
        assert client.get(f"/jobs/{job_id}/results").text == "1.5"
    assert_no_orphaned_running(r, stack.prefix, stack.env["FASTPROC_QUEUE_NAME"])


def _arq_check(env: dict[str, str], base: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arq", "--check", "fastproc.WorkerSettings"],
                          cwd=ROOT, env={**os.environ, **base, **env}, capture_output=True,
                          text=True, timeout=60, check=False)


def test_arq_check_reads_the_configured_redis(
    procs: Processes, r: redis.Redis, key_prefix: str, env: dict[str, str],
) -> None:
    idle = own_env(key_prefix)
    assert _arq_check(idle, env).returncode == 1, "healthy with no worker on the queue"
    stack = _stack(procs, r, key_prefix, "arq")
    done = _arq_check(stack.env, env)
    assert done.returncode == 0, done.stdout + done.stderr
    for worker in stack.workers:
        worker.terminate()
        worker.wait(timeout=30)


def test_arqs_own_lines_use_fastprocs_log_format(
    procs: Processes, r: redis.Redis, key_prefix: str,
) -> None:
    """arq's CLI sets up its own logging after importing `fastproc.WorkerSettings`; its
    start-up lines ("Starting worker ...", the Redis version) come out as fastproc's."""
    mark = len(procs.children)
    worker = procs.worker(r, launcher="arq", **own_env(key_prefix))
    log = procs.logs / f"worker-{mark}.log"
    worker.terminate()
    worker.wait(timeout=30)
    lines = log.read_text(errors="replace").splitlines()
    starting = [line for line in lines if "Starting worker for" in line]
    assert starting, lines
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \| INFO +\| ", line)
               for line in starting), starting
    assert all("arq.worker:" in line for line in starting), starting
    redis_info = [line for line in lines if "redis_version=" in line]
    assert redis_info and all(" | INFO " in line for line in redis_info), redis_info


_PROBE = """
import json, fastproc
first = fastproc.WorkerSettings
s = first["redis_settings"]
print(json.dumps({"same": fastproc.WorkerSettings is first, "poll": first["poll_delay"],
                  "redis": [s.host, s.port, s.database]}))
"""


def test_worker_settings_are_built_once_from_the_environment() -> None:
    env = {**os.environ, "FASTPROC_REDIS_URL": "redis://10.1.2.3:6380/4",
           "FASTPROC_POLL_DELAY": "0.5"}
    done = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "same": True, "poll": 0.1, "redis": ["10.1.2.3", 6380, 4]}


def _shape(worker: Worker) -> dict[str, Any]:
    """What decides how a worker runs each job."""
    return {
        "functions": {name: (f.coroutine, f.timeout_s, f.max_tries, f.keep_result_s)
                      for name, f in worker.functions.items()},
        "hooks": {hook: getattr(worker, hook).__qualname__
                  for hook in ("on_startup", "on_shutdown", "on_job_start")},
        **{name: getattr(worker, name) for name in (
            "job_serializer", "job_deserializer", "allow_abort_jobs", "retry_jobs",
            "max_jobs", "queue_name", "health_check_key", "health_check_interval",
            "keep_result_s", "max_tries", "_job_completion_wait")},
    }


@pytest.mark.anyio
async def test_both_launchers_run_the_same_tasks_with_the_same_settings() -> None:
    settings = Settings(processes=["workers.examples"])
    registry = Registry.from_modules(settings.processes)
    ours = create_worker(settings, registry, handle_signals=False)
    arqs = Worker(**worker_settings(settings, registry), handle_signals=False)
    assert _shape(ours) == _shape(arqs)
    assert arqs.poll_delay_s <= ours.poll_delay_s
