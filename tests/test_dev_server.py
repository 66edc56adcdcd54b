"""`fastproc dev` as a process author meets it: started from the console script in the
folder of their module, stopped with Ctrl-C in a terminal, restarted with its data kept,
reloaded when a module changes."""

from __future__ import annotations

import io
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pexpect
import pytest
import redis
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix

from fastproc.wire.keys import Keys
from tests.devserver import (
    FASTPROC,
    START,
    Dev,
    alive,
    answer,
    command_of,
    descendants,
    dev_env,
    dev_server,
    kill_leftovers,
)
from tests.gated import Gates, step_gate
from tests.support import ROOT, free_port, own_env, submit_async, wait_for

#: Each test starts `fastproc dev` (Valkey, API and worker) in processes of its own.
pytestmark = pytest.mark.slow

VERSIONED = '''from fastproc import process


@process()
async def version() -> str:
    """Which version of this module runs."""
    return "{version}"
'''


# --- Ctrl-C and SIGTERM ------------------------------------------------------------------


@pytest.mark.parametrize("mode", [[], ["--reload"]], ids=["plain", "reload"])
def test_ctrl_c_in_a_terminal_stops_everything_quietly(tmp_path: Path, mode: list[str]) -> None:
    port = free_port()
    transcript = io.StringIO()
    child = pexpect.spawn(FASTPROC, ["dev", "--port", str(port), "--ephemeral", *mode],
                          cwd=str(tmp_path), env=dev_env(), encoding="utf-8",
                          codec_errors="replace", timeout=START)
    child.logfile_read = transcript
    below: list[int] = []
    try:
        def serving() -> bool:
            # Read what it printed, so that a full terminal never blocks it.
            child.expect([pexpect.TIMEOUT, pexpect.EOF], timeout=0.05)
            assert child.isalive(), transcript.getvalue()
            return answer(f"http://127.0.0.1:{port}", "echo", {"value": "up"}, "value") == "up"

        wait_for(serving, START, "fastproc dev to run echo")
        below = descendants(child.pid)
        valkey = [pid for pid in below if "valkey-server" in command_of(pid)]
        assert valkey, "the embedded Valkey runs below fastproc dev"
        child.sendintr()
        child.expect(pexpect.EOF, timeout=START)
    finally:
        child.close(force=True)
        kill_leftovers(below)
    output = transcript.getvalue()
    assert child.exitstatus == 0, output
    assert f"http://127.0.0.1:{port}/api.html" in output, output
    assert f"http://127.0.0.1:{port}/dashboard" in output, output
    assert "Traceback" not in output
    assert "subscription lost" not in output
    assert "shutdown on SIGINT" in output
    assert not [pid for pid in below if alive(pid)], "fastproc dev left processes running"


@pytest.mark.parametrize("mode", [[], ["--reload"]], ids=["plain", "reload"])
def test_dev_killed_outright_leaves_nothing_running(tmp_path: Path, mode: list[str]) -> None:
    with dev_server(tmp_path, "--ephemeral", *mode) as dev:
        dev.wait_serving("echo")
        below = descendants(dev.child.pid)
        assert any("valkey-server" in command_of(pid) for pid in below)
        dev.child.kill()
        dev.child.wait(timeout=START)
        # Valkey (and a reloading child) sit outside the terminal's process group, so the
        # kernel is what stops them once their parent is gone.
        wait_for(lambda: not [pid for pid in below if alive(pid)], START,
                 "the processes of a killed fastproc dev to stop")


def _assert_successful(r: redis.Redis, settings: dict[str, str], job_id: str, dev: Dev) -> None:
    """The job's record says it succeeded, and dev printed no traceback on the way."""
    record = r.hgetall(Keys(settings["FASTPROC_KEY_PREFIX"]).job(job_id))
    assert record[b"status"] == b"successful", dev.output()
    assert "Traceback" not in dev.output()


def test_job_running_at_sigterm_finishes_within_the_grace(
    tmp_path: Path, redis_url: str, r: redis.Redis, key_prefix: str
) -> None:
    settings = own_env(key_prefix, FASTPROC_REDIS_URL=redis_url, FASTPROC_SHUTDOWN_GRACE="60")
    with dev_server(tmp_path, **settings) as dev, dev.client() as client:
        dev.wait_serving("sleep")
        job_id = submit_async(client, "sleep", {"seconds": 1.5})
        dev.job(client, job_id, "running")
        assert dev.stop(signal.SIGTERM) == 0, dev.output()
    _assert_successful(r, settings, job_id, dev)


def test_a_sync_request_waiting_when_dev_stops_gets_its_jobs_location_at_once(
    tmp_path: Path, redis_url: str, r: redis.Redis, key_prefix: str, gates: Gates
) -> None:
    """The worker stops too, so a request waiting for its job would otherwise hold the
    shutdown (and every reload) for the whole grace."""
    settings = own_env(key_prefix, FASTPROC_REDIS_URL=redis_url, FASTPROC_SHUTDOWN_GRACE="300",
                       FASTPROC_SYNC_WAIT="300", FASTPROC_PROCESSES="tests.gated",
                       PYTHONPATH=str(ROOT))
    with dev_server(tmp_path, **settings) as dev, ThreadPoolExecutor(1) as pool:
        dev.wait_serving("held_in_a_thread")
        # Far less than the grace and the sync wait: only an answer at the stop comes in time.
        waiting = pool.submit(httpx.post, f"{dev.url}/processes/held_in_a_thread/execution",
                              json={"inputs": {"gate": gates.path}}, timeout=START)
        wait_for(lambda: gates.reached("go"), START, "the job to run")
        dev.child.send_signal(signal.SIGTERM)
        response = waiting.result()
        assert response.status_code == 201, response.text
        job_id = response.json()["jobID"]
        assert response.headers["Location"].endswith(f"/jobs/{job_id}")
        gates.open_all()  # within the grace: the job still ends, and so does dev
        assert dev.child.wait(timeout=START) == 0, dev.output()
    _assert_successful(r, settings, job_id, dev)


def test_a_live_status_stream_ends_when_dev_stops(
    tmp_path: Path, redis_url: str, r: redis.Redis, key_prefix: str, gates: Gates
) -> None:
    """A job page left open must not hold a stop or a reload for the whole grace."""
    settings = own_env(key_prefix, FASTPROC_REDIS_URL=redis_url, FASTPROC_SHUTDOWN_GRACE="300",
                       FASTPROC_PROCESSES="tests.gated", PYTHONPATH=str(ROOT))
    with dev_server(tmp_path, **settings) as dev, dev.client() as client:
        dev.wait_serving("stepwise")
        job_id = submit_async(client, "stepwise", {"gate": gates.path, "steps": 1})
        wait_for(lambda: gates.reached(step_gate(1)), START, "the job to run")
        reader = ThreadPoolExecutor(1)  # not waited for at exit: a stream left open
        try:
            with httpx.stream("GET", f"{dev.url}/jobs/{job_id}/events", timeout=START) as stream:
                lines = stream.iter_lines()
                assert next(line for line in lines if line.startswith("data:"))
                rest = reader.submit(list, lines)
                dev.child.send_signal(signal.SIGTERM)
                # Keep-alive comments would hold it open for the whole grace (300 s).
                ended = rest.result(timeout=START)
        finally:
            reader.shutdown(wait=False)
        assert not any('"successful"' in line for line in ended), ended
        gates.open_all()
        assert dev.child.wait(timeout=START) == 0, dev.output()
    _assert_successful(r, settings, job_id, dev)


def test_job_outliving_the_grace_is_handed_back_to_the_queue(
    tmp_path: Path, redis_url: str, r: redis.Redis, key_prefix: str
) -> None:
    settings = own_env(key_prefix, FASTPROC_REDIS_URL=redis_url, FASTPROC_SHUTDOWN_GRACE="1")
    prefix = settings["FASTPROC_KEY_PREFIX"]
    job_id = ""
    try:
        with dev_server(tmp_path, **settings) as dev, dev.client() as client:
            dev.wait_serving("sleep")
            job_id = submit_async(client, "sleep", {"seconds": 3600})
            dev.job(client, job_id, "running")
            assert dev.stop(signal.SIGTERM) == 0, dev.output()
        # Still queued, claimed by no one: the next worker runs it again.
        assert r.zscore(settings["FASTPROC_QUEUE_NAME"], job_id) is not None
        assert not r.exists(in_progress_key_prefix + job_id)
        assert r.hget(Keys(prefix).job(job_id), "status") == b"running"
    finally:  # no worker comes back for this job: its keys go now
        arq_keys = [key + job_id for key in (job_key_prefix, retry_key_prefix)]
        r.delete(*r.keys(f"{prefix}*"), *arq_keys)


# --- your own module -----------------------------------------------------------------------


def test_dev_serves_a_module_from_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "wordcount.py").write_text(
        "from fastproc import process\n\n\n@process()\n"
        "async def wordcount(text: str) -> int:\n    return len(text.split())\n")
    with dev_server(tmp_path, FASTPROC_PROCESSES="wordcount") as dev:
        dev.wait_serving("wordcount")
        assert answer(dev.url, "wordcount", {"text": "one two three"}) == "3"
    # By default the embedded Valkey keeps its data next to the module, out of git.
    assert (tmp_path / ".fastproc" / "appendonlydir").is_dir()
    assert (tmp_path / ".fastproc" / ".gitignore").read_text().strip().endswith("*")


@pytest.mark.parametrize("command", [["dev", "--ephemeral"], ["worker"]], ids=["dev", "worker"])
@pytest.mark.parametrize(("source", "expected"), [
    (None, "no module named 'wordcount'"),
    ("import fastproc_nowhere_to_be_found\n", "'fastproc_nowhere_to_be_found'"),
    ("raise RuntimeError('bad config')\n", "RuntimeError: bad config"),
], ids=["module-missing", "its-import-missing", "raises"])
def test_process_module_that_cannot_be_imported_is_one_line_naming_it(
    tmp_path: Path, command: list[str], source: str | None, expected: str
) -> None:
    if source is not None:
        (tmp_path / "wordcount.py").write_text(source)
    done = subprocess.run([FASTPROC, *command, "--processes", "wordcount"], cwd=tmp_path,
                          env=dev_env(), capture_output=True, text=True, timeout=START)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "process module 'wordcount'" in lines[0] and expected in lines[0]


@pytest.mark.parametrize(("given", "suggested"), [
    ("wordcount.py", "wordcount"), ("pkg/wordcount.py", "pkg.wordcount")])
def test_a_file_given_as_the_module_gets_the_module_name_to_give(
    tmp_path: Path, given: str, suggested: str,
) -> None:
    (tmp_path / "wordcount.py").write_text("")
    done = subprocess.run([FASTPROC, "dev", "--ephemeral", "--processes", given], cwd=tmp_path,
                          env=dev_env(), capture_output=True, text=True, timeout=START)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].endswith(f"give a module name, not a file: --processes {suggested}"), lines


# --- persistence and reload ----------------------------------------------------------------


def test_jobs_survive_a_dev_restart_with_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with dev_server(tmp_path, "--data-dir", str(data)) as dev, dev.client() as client:
        dev.wait_serving("echo")
        job_id = submit_async(client, "echo", {"value": "kept"}, outputs={"value": {}})
        assert dev.job(client, job_id)["status"] == "successful"
        assert dev.stop() == 0, dev.output()
    with dev_server(tmp_path, "--data-dir", str(data)) as dev, dev.client() as client:
        dev.wait_serving("echo")
        listing = client.get("/jobs", params={"processID": "echo"})
        assert listing.status_code == 200, listing.text
        assert job_id in [job["jobID"] for job in listing.json()["jobs"]]
        results = client.get(f"/jobs/{job_id}/results")
        assert results.status_code == 200 and results.text == "kept"


def test_a_restart_with_other_processes_lists_only_those(tmp_path: Path) -> None:
    """The previous run's processes are not listed, nor run by a worker that cannot: the
    dev server replaces the catalogue as it starts instead of waiting for it to lapse."""
    for name in ("first", "second"):
        (tmp_path / f"{name}.py").write_text(
            f"from fastproc import process\n\n\n@process()\n"
            f"async def {name}_only() -> str:\n    return '{name}'\n")
    data = tmp_path / "data"
    with dev_server(tmp_path, "--data-dir", str(data), FASTPROC_PROCESSES="first") as dev:
        dev.wait_serving("first_only")
        assert dev.stop() == 0, dev.output()
    with dev_server(tmp_path, "--data-dir", str(data), FASTPROC_PROCESSES="second") as dev, \
            dev.client() as client:
        dev.wait_serving("second_only")
        listed = {p["id"] for p in client.get("/processes").json()["processes"]}
        assert listed == {"second_only"}, listed
        assert client.get("/processes/first_only").status_code == 404
        refused = client.post("/processes/first_only/execution", json={"inputs": {}})
        assert refused.status_code in (404, 503), refused.text


def test_reload_serves_the_edited_module_and_keeps_the_jobs(tmp_path: Path) -> None:
    module = tmp_path / "versioned.py"
    module.write_text(VERSIONED.format(version="v1"))
    with dev_server(tmp_path, "--reload", "--ephemeral",
                    FASTPROC_PROCESSES="versioned") as dev, dev.client() as client:
        dev.wait_serving("version")
        assert answer(dev.url, "version") == "v1"
        job_id = submit_async(client, "version", {})
        assert dev.job(client, job_id)["status"] == "successful"
        # A different size too: a stale .pyc of the same size and second is never used.
        module.write_text(VERSIONED.format(version="v2") + "# edited\n")
        wait_for(lambda: answer(dev.url, "version") == "v2", START, "the edit to be served")
        assert client.get(f"/jobs/{job_id}").json()["status"] == "successful"
        assert dev.stop() == 0, dev.output()
    assert "Traceback" not in dev.output()
