"""`python -m benchmarks.failover`: a Valkey primary dies (SIGKILL) mid-run and a Sentinel
promotes its replica. A primary, one replica and three Sentinels (`embedded_sentinel_group`),
two workers and one API, all on `redis+sentinel://`; submissions of plain, fan-out and
workflow jobs (the API acknowledges each with 201); the primary is killed once a third are
acknowledged, and started again (empty) as the new primary's replica once every Sentinel
names that one. Reports, per `FASTPROC_REDIS_MIN_REPLICAS`, what each column
of `LEGEND` says: acknowledged jobs that ended `successful`, lost (the record is gone: 404),
stuck (not ended in time) and failed; the jobs that ran twice, counted from a journal kept
outside Redis (`tests.failover_processes`: each run of a plain job or of a workflow's leaf
writes its token to a file, and each submission attempt has a token of its own, so a
client's retry is not a second run); 503s the clients retried; the time from the kill to
the promotion, to the first acknowledged execution on the new primary and to the first job
of it that succeeded; and what an SSE stream (`/jobs/{id}/events`) open on a job running
across the kill saw.

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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis

from benchmarks.stack import ROOT, _stop, answers, free_port, wait_until
from fastproc.embedded import SentinelGroup, embedded_sentinel_group

TERMINAL = ("successful", "failed", "dismissed")
PROCESSES = ("batch_upper", "journaled_echo", "journaled_sleep")
#: How long acknowledged jobs get to end after the last submission, seconds.
SETTLE = 120.0
#: Seconds the job watched over SSE runs: it is running when the primary dies.
WATCHED_SECONDS = 3.0
#: What each column of the report means.
LEGEND = {
    "acknowledged": "executions answered 201 (only these are promised)",
    "successful": "acknowledged jobs that ended successful",
    "failed": "acknowledged jobs that ended failed",
    "lost": "acknowledged jobs whose record is gone (404): written to the old primary, "
            "not yet replicated when it died",
    "stuck": f"acknowledged jobs not ended {SETTLE:.0f} s after the last submission",
    "ran_twice": "acknowledged jobs (plain, or a workflow's leaf) whose process ran more "
                 "than once (journal lines): a run's end lost with the old primary, then "
                 "run again (at-least-once)",
    "ran_unacked": "submission attempts answered 503 or cut off whose job ran anyway: "
                   "a client retry is a new job",
    "503_retried": "503 answers (not enough replicas, or a demoted primary) the clients "
                   "retried",
    "promoted_s": "seconds from the kill until the Sentinels named another primary",
    "first_201_s": "seconds from the kill until the first execution sent after it was "
                   "acknowledged",
    "first_success_s": "seconds from the kill until the first job acknowledged after it "
                       "ended successful",
    "sse": "the stream open on a job running across the kill: how it ended, after how "
           "many seconds from the kill, and the last status it delivered",
}


def _bodies() -> Iterator[tuple[str, str, Body]]:
    """(kind, process, execute body of a submission attempt's token), in a fixed mix:
    8 plain, 1 fan-out, 1 workflow. Plain jobs and workflow leaves are journaled."""
    for n in itertools.count():
        if n % 10 == 8:
            words = [f"w{n}a", f"w{n}b", f"w{n}c"]
            yield "fan-out", "batch_upper", _fixed({"inputs": {"words": words, "chunk": 1}})
        elif n % 10 == 9:
            yield "workflow", "batch_upper", _workflow
        else:
            yield "plain", "journaled_echo", _plain


Body = Callable[[str], tuple[dict[str, Any], list[str]]]


def _fixed(body: dict[str, Any]) -> Body:
    return lambda token: (body, [])


def _plain(token: str) -> tuple[dict[str, Any], list[str]]:
    return {"inputs": {"value": token}}, [token]


def _workflow(token: str) -> tuple[dict[str, Any], list[str]]:
    tokens = [f"{token}.{leaf}" for leaf in "abc"]
    leaves = [{"process": "journaled_echo", "inputs": {"value": t}} for t in tokens]
    return {"inputs": {"words": leaves, "chunk": 1}}, tokens


@dataclass
class Run:
    """What one run measured."""

    min_replicas: int
    acknowledged: dict[str, str] = field(default_factory=dict)  # job id: kind
    tokens: dict[str, list[str]] = field(default_factory=dict)  # job id: journaled tokens
    unacked_tokens: list[str] = field(default_factory=list)  # attempts not answered 201
    runs: Counter[str] = field(default_factory=Counter)        # journal: token: runs
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
    #: Acknowledged jobs that ended failed: (job id, kind, message).
    failures: list[tuple[str, str, str]] = field(default_factory=list)
    sse: Stream | None = None

    @property
    def ran_twice(self) -> list[str]:
        """Acknowledged jobs some journaled run of which happened more than once."""
        return [job_id for job_id, tokens in self.tokens.items()
                if any(self.runs[t] > 1 for t in tokens)]

    @property
    def ran_unacknowledged(self) -> int:
        return sum(1 for t in self.unacked_tokens if self.runs[t])

    def row(self) -> dict[str, Any]:
        return {"min_replicas": self.min_replicas, "acknowledged": len(self.acknowledged),
                **{k: self.ends.get(k, 0) for k in ("successful", "failed", "lost", "stuck")},
                "ran_twice": len(self.ran_twice), "ran_unacked": self.ran_unacknowledged,
                "503_retried": self.retried_503,
                "promoted_s": round(self.promoted_after, 2),
                "first_201_s": _rounded(self.first_ack_after),
                "first_success_s": _rounded(self.first_success_after),
                "sse": self.sse.summary(self.killed_at) if self.sse else None}


@dataclass
class Stream:
    """What an SSE client of `/jobs/{id}/events` saw: the statuses in order, how the
    stream ended (`ended`: the server closed it after a terminal status or early;
    `broken`: the connection failed; `http N`: refused) and when (monotonic)."""

    job_id: str
    statuses: list[str] = field(default_factory=list)
    ended: str = ""
    ended_at: float = 0.0

    @property
    def last(self) -> str | None:
        return self.statuses[-1] if self.statuses else None

    def summary(self, killed_at: float) -> str:
        return f"{self.ended} +{self.ended_at - killed_at:.1f}s last={self.last}"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "fastproc", *args], cwd=ROOT,
                                env={**os.environ, **env}, stdout=out,
                                stderr=subprocess.STDOUT)


@contextlib.contextmanager
def stack_on(group: SentinelGroup, *, workers: int, min_replicas: int, logs: Path,
             journal: Path) -> Iterator[tuple[str, str]]:
    """`workers` workers and one API on the group's Sentinel URL, journaling runs to
    `journal`; yields the API's URL and the key prefix (the queue is `<prefix>:queue`)."""
    prefix = f"fo{uuid.uuid4().hex[:6]}"
    env = {"FASTPROC_REDIS_URL": group.url, "FASTPROC_KEY_PREFIX": prefix,
           "FASTPROC_QUEUE_NAME": f"{prefix}:queue", "FASTPROC_LOG_LEVEL": "WARNING",
           "FASTPROC_PROCESSES": "workers.examples,tests.failover_processes",
           "FAILOVER_JOURNAL": str(journal),
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
            return set(PROCESSES) <= {p["id"] for p in listed}

        wait_until(ready, 90, "the API and the workers' processes")
        yield url, prefix
    finally:
        for child in children:
            _stop(child)


def run(jobs: int, min_replicas: int, *, workers: int = 2, concurrency: int = 8,
        logs: Path | None = None, after: After | None = None) -> Run:
    """Submit `jobs`, kill the primary when a third are acknowledged (with an SSE stream
    open on a job running then), wait for every acknowledged job to end (or `SETTLE` s),
    read the journal, and count. `after(primary, prefix, queue)` then looks at what is
    left in Redis, before the group stops."""
    logs = logs or Path(os.environ.get("TMPDIR", "/tmp"))
    journal = logs / f"failover-journal-{uuid.uuid4().hex[:8]}"
    result = Run(min_replicas)
    with embedded_sentinel_group() as group, \
            stack_on(group, workers=workers, min_replicas=min_replicas, logs=logs,
                     journal=journal) as (url, prefix):
        bodies = iter(list(itertools.islice(_bodies(), jobs)))
        lock = threading.Lock()
        kill_now, killed = threading.Event(), threading.Event()
        attempts = itertools.count()

        def submit_all() -> None:
            with httpx.Client(base_url=url, timeout=10) as client:
                while True:
                    if kill_now.is_set():  # held while the watched stream opens
                        killed.wait(timeout=120)
                    with lock:
                        taken = next(bodies, None)
                    if taken is None:
                        return
                    _submit(client, *taken, result, lock, next(attempts))
                    if len(result.acknowledged) >= jobs // 3:
                        kill_now.set()

        with ThreadPoolExecutor(concurrency + 1) as pool:
            futures = [pool.submit(submit_all) for _ in range(concurrency)]
            kill_now.wait(timeout=120)
            result.sse = Stream(_running_job(url))
            opened = threading.Event()
            watched = pool.submit(_watch, url, result.sse, opened)
            opened.wait(timeout=30)
            old = group.primary()
            with lock:
                old.kill()
                result.killed_at, result.killed_wall = time.monotonic(), time.time()
            killed.set()
            wait_until(lambda: _promoted(group, old.port), 60, "a replica to be promoted")
            result.promoted_after = time.monotonic() - result.killed_at
            # Back, empty, as the new primary's replica (as an orchestrator brings a failed
            # primary back), once every Sentinel names the new primary.
            wait_until(lambda: _agreed(group, old.port), 60, "the Sentinels to agree")
            old.start(replica_of=group.primary().port)
            for future in futures:
                future.result()
            watched.result()
        _settle(url, result)
        if journal.exists():
            result.runs.update(journal.read_text().split())
            journal.unlink()
        if after is not None:
            primary = redis.Redis(host="127.0.0.1", port=group.primary().port)
            try:
                after(primary, prefix, f"{prefix}:queue")
            finally:
                primary.close()
    return result


After = Callable[[redis.Redis, str, str], None]


def _running_job(url: str) -> str:
    """A job acknowledged and `running` now, that runs WATCHED_SECONDS more."""
    body = {"inputs": {"value": f"watched-{uuid.uuid4().hex[:8]}",
                       "seconds": WATCHED_SECONDS}}
    with httpx.Client(base_url=url, timeout=10) as client:
        job_id = str(client.post("/processes/journaled_sleep/execution", json=body,
                                 headers={"Prefer": "respond-async",
                                          "Cache-Control": "no-cache"}).json()["jobID"])
        wait_until(lambda: client.get(f"/jobs/{job_id}").json()["status"] == "running", 60,
                   "the watched job to run")
    return job_id


def _watch(url: str, stream: Stream, opened: threading.Event) -> None:
    """Follow the job's SSE stream until the server ends it or the connection fails; a
    read timeout well above the Redis timeout and the keep-alive catches a hung stream."""
    try:
        with httpx.stream("GET", f"{url}/jobs/{stream.job_id}/events",
                          timeout=httpx.Timeout(10, read=30)) as response:
            if response.status_code != 200:
                stream.ended = f"http {response.status_code}"
                return
            for line in response.iter_lines():
                if line.startswith("data:"):
                    stream.statuses.append(orjson.loads(line[5:])["status"])
                    opened.set()
        stream.ended = "ended"
    except httpx.HTTPError as exc:
        stream.ended = f"broken ({type(exc).__name__})"
    finally:
        stream.ended_at = time.monotonic()
        opened.set()


def _agreed(group: SentinelGroup, old_port: int) -> bool:
    """Every Sentinel names the same primary, not the old one."""
    named = set()
    for sentinel in group.sentinels:
        client = redis.Redis(host="127.0.0.1", port=sentinel.port, socket_timeout=1)
        try:
            _, port = client.execute_command(  # type: ignore[no-untyped-call]
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", group.service)
            named.add(int(port))
        except redis.RedisError:
            return False
        finally:
            client.close()
    return len(named) == 1 and old_port not in named


def _promoted(group: SentinelGroup, old_port: int) -> bool:
    with contextlib.suppress(Exception):
        return group.primary().port != old_port
    return False


def _submit(client: httpx.Client, kind: str, process: str, make: Body, result: Run,
            lock: threading.Lock, n: int) -> None:
    """POST until acknowledged, as a client should: a 503 or a broken connection is tried
    again (the job may or may not exist then; only acknowledged ones are counted). Each
    attempt journals under a token of its own."""
    deadline = time.monotonic() + 90
    for attempt in itertools.count():
        if time.monotonic() > deadline:
            return
        body, tokens = make(f"j{n}.{attempt}")
        sent = time.monotonic()
        try:
            response = client.post(f"/processes/{process}/execution", json=body,
                                   headers={"Prefer": "respond-async",
                                            "Cache-Control": "no-cache"})
        except httpx.TransportError as exc:
            with lock:
                result.other_errors[type(exc).__name__] += 1
                result.unacked_tokens += tokens
            time.sleep(0.1)
            continue
        if response.status_code == 201:
            now = time.monotonic()
            job_id = response.json()["jobID"]
            with lock:
                result.acknowledged[job_id] = kind
                result.tokens[job_id] = tokens
                result.sent_at[job_id] = sent
                if sent > result.killed_at > 0 and result.first_ack_after is None:
                    result.first_ack_after = now - result.killed_at
            return
        with lock:
            result.unacked_tokens += tokens
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
                            if status == "failed":
                                result.failures.append((job_id, open_jobs[job_id],
                                                        str(response.json().get("message"))))
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
    for column, meaning in LEGEND.items():
        print(f"  {column}: {meaning}")
    for r in runs:
        if r.ran_twice:
            print(f"min_replicas={r.min_replicas}: ran twice: "
                  f"{[(j, r.acknowledged[j]) for j in r.ran_twice[:10]]}")
        if r.other_errors:
            print(f"min_replicas={r.min_replicas}: client errors retried: {dict(r.other_errors)}")
        if r.not_ended:
            print(f"min_replicas={r.min_replicas}: not ended: {r.not_ended[:10]}")
    return runs


if __name__ == "__main__":
    main()
