"""Job logs: what a process logs is captured per job by the worker, bounded, kept as long as
the job, and served at /jobs/{id}/logs (text and JSON), to the job's owner only, and by
`fastproc jobs logs`. Real API, worker and Valkey; gates hold jobs where a test looks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.e2e import assert_exception
from tests.gated import Gates
from tests.logging_processes import TERMINAL_TRICKS, TRICKS_SHOWN, unprintable
from tests.support import ROOT, Processes, Stack, start_job, wait_for, wait_job

PROCESSES = "workers.examples,tests.logging_processes,tests.gated"
OWNER, OTHER = "alice-key-5be1", "bob-key-09fd"


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES, FASTPROC_JOB_LOG_LINES="8")


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as c:
        yield c


def _json(client: httpx.Client, job_id: str, after: int = 0) -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}/logs", params={"f": "json", "after": after})
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def _messages(doc: dict[str, Any]) -> list[str]:
    return [line["message"] for line in doc["lines"]]


def test_a_running_jobs_log_has_its_loguru_and_logging_lines(
        client: httpx.Client, gates: Gates) -> None:
    job = start_job(client, "chatty", {"gate": gates.path, "lines": 2})
    wait_for(lambda: gates.reached("go"), 60, "the job at its gate")
    running = wait_for(lambda: (doc := _json(client, job.id))["total"] == 3 and doc, 20,
                       "the first lines")
    assert client.get(f"/jobs/{job.id}").json()["status"] == "running"
    assert _messages(running) == ["loguru line 1 of 2", "loguru line 2 of 2",
                                  "a standard logging line"]
    assert [line["n"] for line in running["lines"]] == [1, 2, 3]
    assert [line["level"] for line in running["lines"]] == ["INFO", "INFO", "WARNING"]
    assert {line["source"] for line in running["lines"]} == {"process"}
    text = client.get(f"/jobs/{job.id}/logs")
    assert text.headers["content-type"].startswith("text/plain")
    assert "WARNING a standard logging line" in text.text

    gates.open("go")
    assert wait_job(client, job.id)["status"] == "successful"
    newer = _json(client, job.id, after=running["next"])
    assert _messages(newer) == ["past the gate"]
    assert newer["lines"][0]["n"] == 4


def test_a_sync_body_logs_from_its_thread(client: httpx.Client, gates: Gates) -> None:
    job = start_job(client, "chatty_in_a_thread", {"gate": gates.path})
    wait_for(lambda: _json(client, job.id)["total"] == 2, 60, "the thread's lines")
    gates.open("go")
    wait_job(client, job.id)
    assert _messages(_json(client, job.id)) == ["from a thread, with loguru",
                                                "from a thread, with logging"]


def test_the_lines_of_parts_and_merge_name_them(client: httpx.Client, gates: Gates) -> None:
    gates.open("part-slow")
    job = start_job(client, "chatty_parts", {"gate": gates.path, "n": 3})
    assert wait_job(client, job.id)["status"] == "successful"
    lines = _json(client, job.id)["lines"]
    assert sorted((line["part"], line["message"]) for line in lines) == [
        ("merge", "merging 3 parts"), ("part 0", "part 0 ran"), ("part 1", "part 1 ran"),
        ("part 2", "part 2 ran")]


def test_a_fanout_jobs_page_shows_its_timeline_parts_over_time_and_slowest_part(
        client: httpx.Client, gates: Gates) -> None:
    job = start_job(client, "chatty_parts", {"gate": gates.path, "n": 4})
    wait_for(lambda: gates.reached("part-slow"), 60, "part 0 at its gate")
    wait_for(lambda: client.get(f"/jobs/{job.id}").json().get("x-fastproc-parts", {})
             .get("done") == 3, 20, "the other parts done")
    gates.open("part-slow")
    assert wait_job(client, job.id)["status"] == "successful"
    page = client.get(f"/jobs/{job.id}", params={"f": "html"}).text
    assert 'id="job-timeline"' in page and page.count('<svg class="chart"') == 2
    assert "4 of 4 parts done over time" in page
    slowest = page.split('id="job-slowest-parts"', 1)[1].split("</table>", 1)[0]
    assert slowest.index("part 0") < slowest.index("part 1")  # it waited at its gate
    assert "[merge]" in client.get(f"/jobs/{job.id}/logs").text


def test_a_failed_jobs_log_has_the_traceback_of_the_process_only(
        client: httpx.Client) -> None:
    job = start_job(client, "fails_deep", {"text": "1/0"})
    assert wait_job(client, job.id)["status"] == "failed"
    lines = _json(client, job.id)["lines"]
    assert lines[0]["message"] == "parsing 1/0"
    error = lines[-1]
    assert error["source"] == "fastproc" and error["level"] == "ERROR"
    traceback = error["traceback"]
    assert "in fails_deep" in traceback and "in _parse_ratio" in traceback
    assert traceback.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "fastproc/" not in traceback and "asyncio" not in traceback
    assert "[fastproc]" in client.get(f"/jobs/{job.id}/logs").text


def test_a_log_keeps_the_newest_lines_within_the_bound(
        client: httpx.Client, gates: Gates) -> None:
    gates.open("go")
    job = start_job(client, "chatty", {"gate": gates.path, "lines": 12})
    wait_job(client, job.id)
    doc = _json(client, job.id)
    assert doc["total"] == 14 and doc["dropped"] == 6  # FASTPROC_JOB_LOG_LINES=8
    assert _messages(doc)[-1] == "past the gate"
    assert [line["n"] for line in doc["lines"]] == list(range(7, 15))
    assert client.get(f"/jobs/{job.id}/logs").text.startswith("# 6 earlier lines")


def test_a_log_lives_as_long_as_its_job_and_goes_with_its_dismissal(
        client: httpx.Client, r: redis.Redis, stack: Stack, gates: Gates) -> None:
    gates.open("go")
    job = start_job(client, "chatty", {"gate": gates.path, "lines": 1})
    wait_job(client, job.id)
    record, lines = f"{stack.prefix}:job:{job.id}", f"{stack.prefix}:job:{job.id}:logs"
    assert abs(r.ttl(lines) - r.ttl(record)) <= 2, (r.ttl(lines), r.ttl(record))
    assert client.delete(f"/jobs/{job.id}").status_code == 200
    assert not r.exists(lines, f"{stack.prefix}:job:{job.id}:trace")
    assert _json(client, job.id)["lines"] == []


def test_logs_answer_404_for_unknown_jobs_and_406_for_other_formats(
        client: httpx.Client) -> None:
    assert client.get(f"/jobs/{'0' * 32}/logs").status_code == 404
    job = start_job(client, "fails_deep", {"text": "2/1"})
    assert client.get(f"/jobs/{job.id}/logs", params={"f": "xml"}).status_code == 406


def test_a_place_past_the_last_line_reads_none_and_one_naming_no_line_is_refused(
        client: httpx.Client) -> None:
    job = start_job(client, "fails_deep", {"text": "2/1"})
    assert wait_job(client, job.id)["status"] == "successful"
    total = _json(client, job.id)["total"]
    assert total >= 1
    for after in (total, total + 1, 2**53 + 1, 2**63 - 1):
        doc = _json(client, job.id, after)
        assert (doc["lines"], doc["next"]) == ([], total), after
        text = client.get(f"/jobs/{job.id}/logs", params={"after": after})
        assert (text.status_code, text.text) == (200, ""), after
        assert text.headers["x-fastproc-log-next"] == str(total)
    for given in ("-1", str(-(2**63)), str(2**63), "9" * 4400, "1e3", "abc", ""):
        for fmt in ("json", "text"):
            assert_exception(client.get(f"/jobs/{job.id}/logs",
                                        params={"after": given, "f": fmt}),
                             400, "InvalidParameterValue", mentions=["after"])


def test_another_callers_job_log_answers_404(procs: Processes, r: redis.Redis,
                                              key_prefix: str) -> None:
    secured = procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES,
                          FASTPROC_API_KEYS=f"alice:{OWNER},bob:{OTHER}")
    with secured.client() as anybody:
        owner = {"Authorization": f"Bearer {OWNER}"}
        created = anybody.post("/processes/fails_deep/execution", json={"inputs": {
            "text": "1/0"}}, headers={**owner, "Prefer": "respond-async"})
        job_id = created.json()["jobID"]
        wait_job(httpx.Client(base_url=secured.url, headers=owner), job_id)
        assert anybody.get(f"/jobs/{job_id}/logs", headers=owner).status_code == 200
        stranger = anybody.get(f"/jobs/{job_id}/logs",
                               headers={"Authorization": f"Bearer {OTHER}"})
        assert stranger.status_code == 404
        assert anybody.get(f"/jobs/{job_id}/logs").status_code == 401


def test_the_cli_prints_and_follows_a_jobs_log(stack: Stack, client: httpx.Client,
                                               gates: Gates) -> None:
    job = start_job(client, "chatty", {"gate": gates.path, "lines": 1})
    wait_for(lambda: gates.reached("go"), 60, "the job at its gate")
    follower = subprocess.Popen(
        [sys.executable, "-m", "fastproc", "jobs", "logs", job.id, "--follow",
         "--interval", "0.2", "--url", stack.url],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _json(client, job.id)["total"] == 2, 60, "the first lines")
        gates.open("go")
        out, err = follower.communicate(timeout=60)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert out.splitlines()[0].endswith("INFO    loguru line 1 of 1")
    assert out.splitlines()[-1].endswith("past the gate")
    printed = subprocess.run(
        [sys.executable, "-m", "fastproc", "jobs", "--url", stack.url, "logs", job.id],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0 and printed.stdout == out


def _worker_log(procs: Processes, stack: Stack) -> str:
    """What the stack's worker wrote to its stderr (the file `Processes.spawn` names)."""
    index = procs.children.index(stack.workers[0])
    return (procs.logs / f"worker-{index}.log").read_text(errors="replace")


def test_a_line_with_a_lone_surrogate_is_kept_escaped_without_a_traceback(
        procs: Processes, r: redis.Redis, key_prefix: str, tmp_path: Path) -> None:
    log_file = tmp_path / "fastproc.log"
    own = procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES,
                      FASTPROC_LOG_FILE=str(log_file))
    with own.client() as client:
        job = start_job(client, "logs_lone_surrogates", {})
        assert wait_job(client, job.id)["status"] == "successful"
        assert _messages(_json(client, job.id)) == ["bad \\udc80 here", "std \\udcff too"]
    line = "std \\udcff too"  # as the worker's own log writes it, after the first line

    def in_file() -> str:
        return log_file.read_text(errors="replace") if log_file.exists() else ""

    wait_for(lambda: line in in_file(), 20, "the log file's writer to reach the line")
    for written in (_worker_log(procs, own), in_file()):
        assert line in written
        assert "Traceback" not in written and "Logging error" not in written, written


def test_the_cli_prints_a_jobs_log_without_its_escape_sequences(
        stack: Stack, client: httpx.Client) -> None:
    job = start_job(client, "logs_escape_sequences", {})
    assert wait_job(client, job.id)["status"] == "successful"
    assert TERMINAL_TRICKS in client.get(f"/jobs/{job.id}/logs").text  # as it was logged
    for terminal in ({}, {"FORCE_COLOR": "1"}):  # a pipe, and as rich prints to a terminal
        printed = subprocess.run(
            [sys.executable, "-m", "fastproc", "jobs", "logs", job.id, "--url", stack.url],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={**os.environ, **terminal})
        assert printed.returncode == 0, printed.stderr
        assert printed.stdout.endswith(f"INFO    {TRICKS_SHOWN}\n"), printed.stdout
        assert not unprintable(printed.stdout), printed.stdout
