"""/dashboard: figures that follow the jobs as they run, the failures list, live workers,
one shared reading for every open dashboard, and what callers without an operator key
see. Real API, workers and Valkey on a stack of its own (its figures are its jobs only)."""

from __future__ import annotations

import contextlib
import re
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from fastproc.api.app import create_app
from fastproc.api.insights.feed import RENDERS_KEPT
from fastproc.settings import Settings
from tests.gated import Gates
from tests.support import Processes, Stack, start_job, wait_for, wait_job

PROCESSES = "workers.examples,tests.logging_processes,tests.gated"
OPERATOR, USER = "ops-key-61d0", "user-key-9a2c"


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES,
                       FASTPROC_DASHBOARD_INTERVAL="0.3")


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as c:
        yield c


def _board(client: httpx.Client, **headers: str) -> dict[str, Any]:
    response = client.get("/dashboard", params={"f": "json"}, headers=headers)
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def _process(doc: dict[str, Any], process_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in doc["processes"] if p["processID"] == process_id)
    return found


def test_the_figures_follow_a_job_from_running_to_done(client: httpx.Client,
                                                      gates: Gates) -> None:
    before = _board(client)
    job = start_job(client, "chatty", {"gate": gates.path, "lines": 1})
    wait_for(lambda: gates.reached("go"), 60, "the job at its gate")
    running = wait_for(lambda: (d := _board(client))["now"]["running"] >= 1 and d, 60,
                       "the job counted as running")
    assert _process(running, "chatty")["running"] == 1
    assert _process(running, "chatty")["queued"] == 0
    gates.open("go")
    wait_job(client, job.id)
    done = wait_for(lambda: (d := _board(client))["now"]["running"] == 0 and d, 60,
                    "the job no longer running")
    chatty = _process(done, "chatty")
    assert (chatty["jobs"], chatty["successful"], chatty["successRate"]) == (1, 1, 1.0)
    assert chatty["p50Seconds"] is not None and chatty["p95Seconds"] is not None
    # `before` may be a reading shared a moment earlier: it has at most what it says.
    assert done["now"]["successfulLast5min"] >= before["now"]["successfulLast5min"] + 1
    ended = [b["successful"] for b in done["throughput"]]
    assert len(ended) == 90
    assert sum(ended) >= sum(b["successful"] for b in before["throughput"]) + 1
    assert done["queueDepth"][-1]["tasksWaiting"] == 0


def test_a_failed_job_is_listed_with_its_message_and_link(client: httpx.Client,
                                                          stack: Stack) -> None:
    job = start_job(client, "fails_deep", {"text": "3/0"})
    assert wait_job(client, job.id)["status"] == "failed"
    # A reading is shared for FASTPROC_DASHBOARD_INTERVAL: the next one has the failure.
    doc = wait_for(lambda: (d := _board(client))["failures"] and d, 60, "the failure listed")
    latest = doc["failures"][0]
    assert latest["jobID"] == job.id and latest["processID"] == "fails_deep"
    assert "ZeroDivisionError: division by zero" in latest["message"]
    assert latest["href"] == f"{stack.url}/jobs/{job.id}"
    assert doc["now"]["failedLast5min"] >= 1
    assert _process(doc, "fails_deep")["failed"] >= 1


def test_live_workers_report_what_they_ran(client: httpx.Client, stack: Stack) -> None:
    job = start_job(client, "echo", {"value": "counted"})
    wait_job(client, job.id)

    def reported() -> list[dict[str, Any]]:
        return [w for w in _board(client)["workers"] if w["done"] >= 1]

    workers = wait_for(reported, 60, "a worker's report of its jobs")
    assert workers[0]["queue"] == stack.env["FASTPROC_QUEUE_NAME"]
    assert "echo" in workers[0]["processes"] and workers[0]["running"] == 0
    assert workers[0]["heartbeatAgeSeconds"] < 20


def test_the_workers_figures_say_whether_they_count_tasks_or_jobs(
    client: httpx.Client,
) -> None:
    """A worker's "done" counts jobs, arq's health check (j_complete) counts tasks: a fan-out
    job is many tasks. Each figure says which it counts."""
    wait_job(client, start_job(client, "echo", {"value": "labelled"}).id)
    wait_for(lambda: any(w["done"] >= 1 for w in _board(client)["workers"]), 60,
             "a worker's report of its jobs")
    page = client.get("/dashboard", headers={"Accept": "text/html"}).text
    table = page[page.index('<table id="dash-workers">'):]
    headers = re.findall(r"<th[^>]*>([^<]+)</th>", table[:table.index("</thead>")])
    assert headers == ["Worker", "Queue", "Processes", "Tasks running", "Jobs done",
                       "Jobs failed", "Tasks retried", "Heartbeat"], headers
    health = re.findall(r'<p class="muted small arq-health">(.*?)</p>', page, re.DOTALL)
    assert health and all("counting tasks, not jobs" in line for line in health), health


def test_every_open_dashboard_gets_the_same_readings(stack: Stack) -> None:
    seen: list[list[str]] = [[] for _ in range(3)]
    stop = threading.Event()

    def watch(ids: list[str]) -> None:
        with httpx.Client(base_url=stack.url, timeout=20) as viewer, \
                viewer.stream("GET", "/dashboard/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("id:"):
                    ids.append(line[3:].strip())
                if stop.is_set() or len(ids) >= 8:
                    return

    threads = [threading.Thread(target=watch, args=(ids,), daemon=True) for ids in seen]
    for thread in threads:
        thread.start()
    wait_for(lambda: all(len(ids) >= 5 for ids in seen), 30, "readings on every stream")
    stop.set()
    for thread in threads:
        thread.join(timeout=20)
    # Each stream got readings made for all of them: the same ids (times), not its own.
    common = set(seen[0]) & set(seen[1]) & set(seen[2])
    assert len(common) >= 3, seen


def test_the_page_draws_its_charts_and_links_the_failed_jobs(client: httpx.Client) -> None:
    page = client.get("/dashboard", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.count('<svg class="chart"') == 2
    assert 'id="dash-workers"' in page.text and 'id="dash-failures"' in page.text
    assert 'href="/dashboard/events"' not in page.text  # absolute, like every link
    assert "/dashboard/events" in page.text


def test_the_api_document_marks_the_extensions(client: httpx.Client) -> None:
    paths = client.get("/api").json()["paths"]
    for path in ("/dashboard", "/dashboard/events", "/jobs/{job_id}/logs"):
        operation = paths[path]["get"]
        assert "x-fastproc-extension" in operation, path


def _first_frame(client: httpx.Client, **headers: str) -> str:
    """The body of the first reading on /dashboard/events."""
    with client.stream("GET", "/dashboard/events", headers=headers) as stream:
        assert stream.status_code == 200
        data: list[str] = []
        for line in stream.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif data and not line:
                return "\n".join(data)
    raise AssertionError("the stream ended before its first reading")


def test_with_keys_on_only_an_operator_sees_workers_failures_and_ids(
        procs: Processes, r: redis.Redis, key_prefix: str) -> None:
    secured = procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES,
                          FASTPROC_API_KEYS=f"user:{USER}",
                          FASTPROC_OPERATOR_KEYS=f"ops:{OPERATOR}")
    with secured.client() as client:
        user = {"Authorization": f"Bearer {USER}"}
        created = client.post("/processes/fails_deep/execution",
                              json={"inputs": {"text": "1/0"}},
                              headers={**user, "Prefer": "respond-async"})
        job_id = created.json()["jobID"]
        wait_job(httpx.Client(base_url=secured.url, headers=user), job_id)
        operator = _board(client, Authorization=f"Bearer {OPERATOR}")
        assert operator["view"] == "operator" and operator["failures"][0]["jobID"] == job_id
        # A tenant sees figures per process and queue, nobody's job ids or errors.
        aggregate = _board(client, **user)
        assert aggregate["view"] == "aggregate"
        assert "workers" not in aggregate and "failures" not in aggregate
        assert job_id not in str(aggregate) and "ZeroDivision" not in str(aggregate)
        assert _process(aggregate, "fails_deep")["failed"] == 1
        assert aggregate["queues"]
        # A caller without a key sees the service's totals only: nothing per process.
        totals = _board(client)
        assert totals["view"] == "totals"
        assert totals["now"]["failedLast5min"] >= 1
        assert not {"processes", "queues", "workers", "failures"} & totals.keys()
        assert "fails_deep" not in str(totals) and job_id not in str(totals)
        for headers, per_process in ((user, True), ({}, False)):
            page = client.get("/dashboard", params={"f": "html"}, headers=headers).text
            frame = _first_frame(client, **headers)
            for body in (page, frame):
                assert job_id[:12] not in body and 'id="dash-workers"' not in body
                assert ('id="dash-processes"' in body) is per_process
                assert ('data-process="fails_deep"' in body) is per_process
                assert 'id="now-failed"' in body
        refused = client.get("/dashboard", headers={"Authorization": "Bearer nobody"})
        assert refused.status_code == 401


def test_dashboard_streams_are_capped_per_caller_and_in_all(
        procs: Processes, r: redis.Redis, key_prefix: str) -> None:
    capped = procs.stack(r, key_prefix, workers=0, FASTPROC_PROCESSES=PROCESSES,
                         FASTPROC_API_KEYS=f"user:{USER}",
                         FASTPROC_OPERATOR_KEYS=f"ops:{OPERATOR}",
                         FASTPROC_DASHBOARD_STREAMS="3",
                         FASTPROC_DASHBOARD_STREAMS_PER_CALLER="2")
    user = {"Authorization": f"Bearer {USER}"}
    operator = {"Authorization": f"Bearer {OPERATOR}"}
    with contextlib.ExitStack() as held:

        def open_stream(**headers: str) -> httpx.Response:
            """A stream held open until the test ends (or a refusal, read whole)."""
            viewer = held.enter_context(capped.client())
            response = held.enter_context(viewer.stream("GET", "/dashboard/events",
                                                        headers=headers))
            if response.status_code != 200:
                response.read()
            return response

        def assert_refused(response: httpx.Response, what: str) -> None:
            assert response.status_code == 429
            assert response.headers["content-type"].startswith("application/problem+json")
            assert int(response.headers["retry-after"]) > 0
            assert what in response.json()["detail"]

        # Callers without a key count as one per address (here all of them are 127.0.0.1).
        first = open_stream()
        assert first.status_code == 200 and open_stream().status_code == 200
        assert_refused(open_stream(), "per caller")
        assert open_stream(**user).status_code == 200
        assert_refused(open_stream(**operator), "in all")
        with capped.client() as client:  # the page itself is not a stream: still served
            assert client.get("/dashboard", headers=operator).status_code == 200
        first.close()

        def reopened() -> bool:
            return open_stream(**operator).status_code == 200

        wait_for(reopened, 30, "the closed stream's place to be free again")
        assert_refused(open_stream(), "in all")


@pytest.mark.anyio
async def test_many_host_names_leave_the_render_cache_bounded(env: dict[str, str]) -> None:
    # Without FASTPROC_BASE_URL the page's links come from the Host header, which the
    # caller chooses (any port of a trusted name passes the host check).
    settings = Settings(redis_url=env["FASTPROC_REDIS_URL"],
                        key_prefix=f"{env['FASTPROC_KEY_PREFIX']}{uuid.uuid4().hex[:6]}")
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000",
            timeout=30) as client:
        for port in range(1, 3 * RENDERS_KEPT + 1):
            response = await client.get("/dashboard", headers={
                "Host": f"127.0.0.1:{port}", "Accept": "text/html"})
            assert response.status_code == 200, response.text
            assert f'"http://127.0.0.1:{port}/dashboard/events"' in response.text
        feed = app.state.insights.feed
        assert 0 < feed.renders <= RENDERS_KEPT
