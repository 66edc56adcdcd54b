"""`python -m benchmarks.failover`: a Valkey primary dies (SIGKILL) mid-run and a Sentinel
promotes its replica. A primary, one replica and three Sentinels (`embedded_sentinel_group`),
two workers and one API, all on `redis+sentinel://`; submissions of plain, fan-out and
workflow jobs (the API acknowledges each with 201); the primary is killed once a third are
acknowledged, and started again (empty) once the Sentinels have promoted the replica, so it
rejoins as the new replica. Reports, per `FASTPROC_REDIS_MIN_REPLICAS`: acknowledged jobs
that ended `successful`, lost (the record is gone: 404), stuck (not ended in time), and
failed; 503s the clients retried; the time from the kill to the first acknowledged
execution on the new primary and to the first job of it that succeeded.

The suite runs the same (`tests/test_sentinel.py`, fewer jobs).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from benchmarks.stack import ROOT, _stop, answers, free_port, wait_until
from fastproc.embedded import SentinelGroup, embedded_sentinel_group

TERMINAL = ("successful", "failed", "dismissed")
#: How long acknowledged jobs get to end after the last submission, seconds.
SETTLE = 120.0


def _bodies() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(kind, process, execute body), in a fixed mix: 8 plain, 1 fan-out, 1 workflow."""
    for n in itertools.count():
        words = [f"w{n}a", f"w{n}b", f"w{n}c"]
        if n % 10 == 8:
            yield "fan-out", "batch_upper", {"inputs": {"words": words, "chunk": 1}}
        elif n % 10 == 9:
            leaves = [{"process": "echo", "inputs": {"value": w}} for w in words]
            yield "workflow", "batch_upper", {"inputs": {"words": leaves, "chunk": 1}}
        else:
            yield "plain", "echo", {"inputs": {"value": f"v{n}"}}


@dataclass
class Run:
    """What one run measured."""

    min_replicas: int
    acknowledged: dict[str, str] = field(default_factory=dict)  # job id: kind
    sent_at: dict[str, float] = field(default_factory=dict)     # job id: monotonic time
    ends: Counter[str] = field(default_factory=Counter)         # successful / failed / lost …
    retried_503: int = 0
    other_errors: Counter[str] = field(default_factory=Counter)
    killed_at: float = 0.0
    killed_wall: float = 0.0
    promoted_after: float = 0.0
    first_ack_after: float | None = None
    first_success_after: float | None = None
    not_ended: list[tuple[str, str]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {"min_replicas": self.min_replicas, "acknowledged": len(self.acknowledged),
                **{k: self.ends.get(k, 0) for k in ("successful", "failed", "lost", "stuck")},
                "503_retried": self.retried_503,
                "promoted_s": round(self.promoted_after, 2),
                "first_201_s": _rounded(self.first_ack_after),
                "first_success_s": _rounded(self.first_success_after)}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "fastproc", *args], cwd=ROOT,
                                env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)


@contextlib.contextmanager
def stack_on(group: SentinelGroup, *, workers: int, min_replicas: int,
             logs: Path) -> Iterator[str]:
    """`workers` workers and one API on the group's Sentinel URL; yields the API's URL."""
    prefix = f"fo{uuid.uuid4().hex[:6]}"
    env = {"FASTPROC_REDIS_URL": group.url, "FASTPROC_KEY_PREFIX": prefix,
           "FASTPROC_QUEUE_NAME": f"{prefix}:queue", "FASTPROC_LOG_LEVEL": "WARNING",
           "FASTPROC_REDIS_MIN_REPLICAS": str(min_replicas),
           # A short lease: a task whose worker lost its connection is claimed again soon.
           "FASTPROC_WORKER_LEASE": "3", "FASTPROC_REDIS_TIMEOUT": "2"}
    children: list[subprocess.Popen[bytes]] = []
    try:
        children += [_spawn(["worker"], env, logs / f"{prefix}-worker{i}.log")
                     for i in range(workers)]
        port = free_port()
        children.append(_spawn(["serve", "--port", str(port)], env, logs / f"{prefix}-api.log"))
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if not answers(port):
                return False
            listed = httpx.get(f"{url}/processes", timeout=5).json().get("processes", [])
            return {"echo", "batch_upper"} <= {p["id"] for p in listed}

        wait_until(ready, 90, "the API and the workers' processes")
        yield url
    finally:
        for child in children:
            _stop(child)


def run(jobs: int, min_replicas: int, *, workers: int = 2, concurrency: int = 8,
        logs: Path | None = None) -> Run:
    """Submit `jobs`, kill the primary when a third are acknowledged, wait for every
    acknowledged job to end (or `SETTLE` s), and count."""
    logs = logs or Path(os.environ.get("TMPDIR", "/tmp"))
    result = Run(min_replicas)
    with embedded_sentinel_group() as group, \
            stack_on(group, workers=workers, min_replicas=min_replicas, logs=logs) as url:
        bodies = iter(list(itertools.islice(_bodies(), jobs)))
        lock = threading.Lock()
        kill_now = threading.Event()

        def submit_all() -> None:
            with httpx.Client(base_url=url, timeout=10) as client:
                while True:
                    with lock:
                        taken = next(bodies, None)
                    if taken is None:
                        return
                    _submit(client, *taken, result, lock)
                    if len(result.acknowledged) >= jobs // 3:
                        kill_now.set()

        with ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(submit_all) for _ in range(concurrency)]
            kill_now.wait(timeout=120)
            old = group.primary()
            with lock:
                old.kill()
                result.killed_at, result.killed_wall = time.monotonic(), time.time()
            wait_until(lambda: _promoted(group, old.port), 60, "a replica to be promoted")
            result.promoted_after = time.monotonic() - result.killed_at
            old.start()  # empty: the Sentinels make it the new primary's replica
            for future in futures:
                future.result()
        _settle(url, result)
    return result


def _promoted(group: SentinelGroup, old_port: int) -> bool:
    with contextlib.suppress(Exception):
        return group.primary().port != old_port
    return False


def _submit(client: httpx.Client, kind: str, process: str, body: dict[str, Any], result: Run,
            lock: threading.Lock) -> None:
    """POST until acknowledged, as a client should: a 503 or a broken connection is tried
    again (the job may or may not exist then; only acknowledged ones are counted)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        sent = time.monotonic()
        try:
            response = client.post(f"/processes/{process}/execution", json=body,
                                   headers={"Prefer": "respond-async",
                                            "Cache-Control": "no-cache"})
        except httpx.TransportError as exc:
            with lock:
                result.other_errors[type(exc).__name__] += 1
            time.sleep(0.1)
            continue
        if response.status_code == 201:
            now = time.monotonic()
            job_id = response.json()["jobID"]
            with lock:
                result.acknowledged[job_id] = kind
                result.sent_at[job_id] = sent
                if sent > result.killed_at > 0 and result.first_ack_after is None:
                    result.first_ack_after = now - result.killed_at
            return
        with lock:
            if response.status_code == 503:
                result.retried_503 += 1
            else:
                result.other_errors[f"HTTP {response.status_code}"] += 1
        time.sleep(min(float(response.headers.get("retry-after", "1")), 0.2))


def _settle(url: str, result: Run) -> None:
    """Poll every acknowledged job until it ends, is gone (lost) or `SETTLE` passes."""
    open_jobs = dict(result.acknowledged)
    deadline = time.monotonic() + SETTLE
    with httpx.Client(base_url=url, timeout=10) as client:
        while open_jobs and time.monotonic() < deadline:
            for job_id in list(open_jobs):
                with contextlib.suppress(httpx.TransportError):
                    response = client.get(f"/jobs/{job_id}")
                    if response.status_code == 404:
                        result.ends["lost"] += 1
                        del open_jobs[job_id]
                    elif response.status_code == 200:
                        status = response.json()["status"]
                        if status in TERMINAL:
                            result.ends[status] += 1
                            del open_jobs[job_id]
                            _note_success(result, job_id, response.json())
            if open_jobs:
                time.sleep(0.5)
        for job_id, kind in open_jobs.items():
            result.ends["stuck"] += 1
            result.not_ended.append((job_id, kind))


def _note_success(result: Run, job_id: str, status: dict[str, Any]) -> None:
    """The first job acknowledged after the kill that succeeded: when it finished."""
    if status["status"] == "successful" and result.sent_at[job_id] > result.killed_at:
        finished = datetime.fromisoformat(status["finished"]).timestamp()
        after = finished - result.killed_wall
        if result.first_success_after is None or after < result.first_success_after:
            result.first_success_after = after


def main(argv: list[str] | None = None) -> list[Run]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.failover", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--min-replicas", type=int, nargs="+", default=[1, 0])
    args = parser.parse_args(argv)
    runs = [run(args.jobs, n) for n in args.min_replicas]
    rows = [r.row() for r in runs]
    print("  ".join(rows[0]))
    for row in rows:
        print("  ".join(str(v) for v in row.values()))
    for r in runs:
        if r.other_errors:
            print(f"min_replicas={r.min_replicas}: client errors retried: {dict(r.other_errors)}")
        if r.not_ended:
            print(f"min_replicas={r.min_replicas}: not ended: {r.not_ended[:10]}")
    return runs


if __name__ == "__main__":
    main()
