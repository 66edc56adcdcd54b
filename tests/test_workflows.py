"""Workflows (OGC API - Processes - Part 3, nested processes) end to end: real Valkey, API
and worker processes; each nested process runs as its own task on the counter join."""

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
import orjson
import pytest
import redis

from fastproc.settings import Settings
from fastproc.wire.keys import Keys
from fastproc.worker.remote import RemoteSlots
from tests.e2e import OGC_EXCEPTIONS, assert_exception
from tests.gated import Gates
from tests.localhttp import LocalHTTP
from tests.support import (
    ASYNC_FRESH,
    Processes,
    Stack,
    assert_no_orphaned_running,
    start_job,
    wait_for,
    wait_job,
)

PROCESSES = "workers.examples,tests.processes,tests.flow_processes"
#: FASTPROC_MAX_RESULT_BYTES of the module's stack.
RESULT_LIMIT = 60_000
NO_CACHE = {"Cache-Control": "no-cache"}
ENDED = ("successful", "failed", "dismissed")


def nest(process: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A nested execution request; a bare id is resolved against its parent's URI."""
    return {"process": process, "inputs": inputs, **extra}


def chain(depth: int) -> dict[str, Any]:
    """`add` nested `depth` levels deep, each level adding 1 to 1 + 1."""
    inputs: dict[str, Any] = {"a": 1, "b": 1}
    for _ in range(depth):
        inputs = {"a": nest("add", inputs), "b": 1}
    return inputs


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    """Two workers, so that siblings run in parallel across them; small size limits, so
    that a test can cross them with small values."""
    return procs.stack(r, key_prefix, workers=2, FASTPROC_PROCESSES=PROCESSES,
                       FASTPROC_FETCH_MAX_BYTES="100000",
                       FASTPROC_MAX_RESULT_BYTES=str(RESULT_LIMIT))


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client(timeout=60) as client:
        yield client


def flow_keys(r: redis.Redis, prefix: str, job_id: str) -> list[bytes]:
    return list(r.scan_iter(match=f"{prefix}:flow:{job_id}:*", count=1000))


def run_async(client: httpx.Client, process: str, inputs: dict[str, Any],
              **body: Any) -> tuple[str, dict[str, Any]]:
    job_id = start_job(client, process, inputs, **body).id
    return job_id, wait_job(client, job_id, timeout=120)


def node_states(client: httpx.Client, job_id: str) -> dict[str, str]:
    response = client.get(f"/jobs/{job_id}/nodes")
    assert response.status_code == 200, response.text
    return {n["path"]: n["status"] for n in response.json()["nodes"]}


def test_a_nested_output_feeds_its_parent_input_synchronously(api: httpx.Client) -> None:
    response = api.post("/processes/add/execution", headers=NO_CACHE, json={
        "inputs": {"a": nest("add", {"a": 1, "b": 2}), "b": 3}, "response": "document"})
    assert response.status_code == 200, response.text
    assert response.json() == {"sum": 6}
    monitor = response.headers["link"].split(">")[0].lstrip("<")
    status = api.get(monitor).json()
    assert status["x-fastproc-nodes"] == {"done": 1, "total": 1}
    assert status["progress"] == 100


@pytest.mark.parametrize("depth", [1, 3, 10])
def test_a_chain_of_nested_processes_runs_to_any_depth(
        api: httpx.Client, r: redis.Redis, stack: Stack, depth: int) -> None:
    job_id, status = run_async(api, "add", chain(depth), response="document")
    assert status["status"] == "successful", status
    assert api.get(f"/jobs/{job_id}/results").json() == {"sum": 2 + depth}
    assert status["x-fastproc-nodes"] == {"done": depth, "total": depth}
    assert flow_keys(r, stack.prefix, job_id) == []
    assert set(node_states(api, job_id).values()) == {"successful"}


def test_fifty_leaves_join_into_one_array_input(api: httpx.Client) -> None:
    leaves = [nest("add", {"a": i, "b": 1}) for i in range(50)]
    job_id, status = run_async(api, "number_stats", {"numbers": leaves},
                               outputs={"count": {}, "mean": {}}, response="document")
    assert status["status"] == "successful", status
    assert api.get(f"/jobs/{job_id}/results").json() == {"count": 50, "mean": 25.5}
    assert status["x-fastproc-nodes"] == {"done": 50, "total": 50}


def test_selected_outputs_of_nested_processes_fan_out_and_scatter_included(
        api: httpx.Client) -> None:
    words = nest("text_stats", {"text": "the cat and the hat"}, outputs={"word_count": {}})
    mean = nest("number_stats", {"numbers": [1, 2, 3]}, outputs={"mean": {}})
    response = api.post("/processes/add/execution", headers=NO_CACHE, json={
        "inputs": {"a": words, "b": mean}, "response": "document"})
    assert response.status_code == 200, response.text
    assert response.json() == {"sum": 7}
    response = api.post("/processes/number_stats/execution", headers=NO_CACHE, json={
        "inputs": {"numbers": [nest("number_stats", {"numbers": [4, 6]}), 1]},
        "outputs": {"maximum": {}}, "response": "document"})
    assert response.json() == {"maximum": 2}, response.text  # its first output, count


def test_a_nested_value_is_validated_against_its_parent_input_when_it_runs(
        api: httpx.Client) -> None:
    upper = nest("batch_upper", {"words": ["a", "b"], "chunk": 1})  # a fan-out node
    response = api.post("/processes/add/execution", headers=NO_CACHE, json={"inputs": {
        "a": nest("number_stats", {"numbers": upper}, outputs={"count": {}}), "b": 1}})
    problem = assert_exception(response, 400, "InvalidParameterValue")
    assert re.fullmatch(r"inputs\.a: input 'numbers'\[[01]\]: '[AB]' is not of type "
                        r"'number'", problem["detail"]), problem


def test_a_failing_leaf_fails_the_job_naming_its_path(
        api: httpx.Client, r: redis.Redis, stack: Stack) -> None:
    inputs = {"a": nest("add", {"a": nest("fail_number", {"x": 7}), "b": 1}),
              "b": nest("add", {"a": 1, "b": 2})}
    job_id, status = run_async(api, "add", inputs)
    assert status["status"] == "failed", status
    assert status["message"] == "inputs.a.inputs.a: refusing 7.0"
    problem = assert_exception(api.get(f"/jobs/{job_id}/results"), 500)
    assert problem["detail"] == "inputs.a.inputs.a: refusing 7.0"
    assert flow_keys(r, stack.prefix, job_id) == []
    assert node_states(api, job_id)["inputs.a.inputs.a"] == "failed"


def test_a_large_nested_value_feeds_its_parent_and_stays_out_of_the_job_record(
        api: httpx.Client, r: redis.Redis, stack: Stack) -> None:
    big = nest("big_text", {"kilobytes": 50})
    job_id, status = run_async(api, "text_length", {"text": big}, response="document")
    assert status["status"] == "successful", status
    assert api.get(f"/jobs/{job_id}/results").json() == {"length": 50_000}
    request = r.hget(Keys(stack.prefix).job(job_id), "request")
    assert request is not None and len(request) < 2_000, len(request or b"")
    assert orjson.loads(request)["inputs"]["text"]["process"] == "big_text"  # as sent
    assert flow_keys(r, stack.prefix, job_id) == []  # the value went with the job's end
    assert len(api.get(f"/jobs/{job_id}/nodes").content) < 2_000


def test_a_nested_value_over_the_result_limit_fails_the_workflow(
        procs: Processes, r: redis.Redis, key_prefix: str, api: httpx.Client,
        stack: Stack) -> None:
    over = RESULT_LIMIT // 1000 + 20  # kilobytes
    job_id, status = run_async(api, "text_length",
                               {"text": nest("big_text", {"kilobytes": over})})
    assert status["status"] == "failed", status
    assert status["message"].startswith("inputs.text: ") and \
        f"over the limit of {RESULT_LIMIT} (FASTPROC_MAX_RESULT_BYTES)" in status["message"]
    # A remote server with the default limit makes it, under the fetch limit; still over
    # what a node of this server may store.
    other = procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES)
    remote = nest(f"{other.url}/processes/big_text", {"kilobytes": over})
    job_id, status = run_async(api, "text_length", {"text": remote})
    assert status["status"] == "failed", status
    assert status["message"] == (
        f"inputs.text: the value of process 'big_text' is {over * 1000 + 2} bytes, over the "
        f"limit of {RESULT_LIMIT} (FASTPROC_MAX_RESULT_BYTES)")
    assert flow_keys(r, stack.prefix, job_id) == []
    request = r.hget(Keys(stack.prefix).job(job_id), "request")
    assert request is not None and b"xxxx" not in request


def test_a_type_mismatch_is_refused_before_anything_runs(api: httpx.Client) -> None:
    response = api.post("/processes/add/execution", json={
        "inputs": {"a": 1, "b": nest("add", {"a": nest("echo", {"value": "x"}), "b": 1})}})
    problem = assert_exception(response, 400, "InvalidParameterValue")
    assert problem["detail"].startswith("inputs.b.inputs.a: output 'value' of process "
                                        "'echo' (string) does not fit input 'a'"), problem
    for inputs, says in [
        ({"a": nest("nope", {}), "b": 1}, "inputs.a: no process 'nope'"),
        ({"a": nest("add", {"a": 1}), "b": 1}, "inputs.a: missing required input 'b'"),
        ({"a": 1, "b": nest("http://api.test/x/add", {"a": 1, "b": 1})},
         "inputs.b: 'http://api.test/x/add' does not name a process"),
    ]:
        problem = assert_exception(api.post("/processes/add/execution",
                                            json={"inputs": inputs}), 400)
        assert problem["detail"].startswith(says), problem
    assert api.get("/jobs", params={"processID": "nope"}).json()["jobs"] == []


def test_dismissal_stops_every_node_and_leaves_no_flow_keys(
        api: httpx.Client, r: redis.Redis, stack: Stack) -> None:
    inputs = {"a": nest("slow_number", {"x": 1, "seconds": 60}),
              "b": nest("add", {"a": nest("slow_number", {"x": 2, "seconds": 60}), "b": 1})}
    job_id = start_job(api, "add", inputs).id
    wait_for(lambda: list(node_states(api, job_id).values()).count("running") == 2, 30,
             "both slow leaves to run")
    states = node_states(api, job_id)
    assert (states[""], states["inputs.b"]) == ("waiting", "waiting"), states
    assert api.delete(f"/jobs/{job_id}").json()["status"] == "dismissed"
    assert flow_keys(r, stack.prefix, job_id) == []

    def tasks_left() -> list[bytes]:
        return [k for k in r.scan_iter(match=f"arq:*{job_id}:node:*", count=1000)] + [
            t for t in r.zrange(stack.env["FASTPROC_QUEUE_NAME"], 0, -1)
            if t.decode().startswith(job_id)]

    wait_for(lambda: not tasks_left(), 30, "the node tasks to be cancelled")
    assert api.get(f"/jobs/{job_id}").json()["status"] == "dismissed"
    assert set(node_states(api, job_id).values()) == {"stopped"}


def test_a_rerun_workflow_with_one_changed_leaf_reruns_only_that_leafs_path(
        api: httpx.Client, tmp_path: Path) -> None:
    logs = [tmp_path / "a.log", tmp_path / "b.log", tmp_path / "c.log"]

    def flow(b: float) -> dict[str, Any]:
        return {"a": nest("counted_double", {"x": 1, "log": str(logs[0])}),
                "b": nest("add", {"a": nest("counted_double", {"x": b, "log": str(logs[1])}),
                                  "b": nest("counted_double", {"x": 5, "log": str(logs[2])})})}

    def runs() -> list[int]:
        return [len(p.read_text().splitlines()) if p.exists() else 0 for p in logs]

    for b, expected_runs, total in [(2, [1, 1, 1], 16), (2, [1, 1, 1], 16),
                                    (3, [1, 2, 1], 18)]:
        response = api.post("/processes/add/execution", json={
            "inputs": flow(b), "response": "document"})
        assert response.json() == {"sum": total}, response.text
        assert runs() == expected_runs


def test_node_transitions_stream_as_events(api: httpx.Client, tmp_path: Path) -> None:
    gates = Gates(tmp_path / "gates")
    inputs = {"a": nest("gated_number", {"x": 1, "gate": gates.path}),
              "b": nest("slow_number", {"x": 2, "seconds": 0})}
    job_id = start_job(api, "add", inputs, headers=ASYNC_FRESH).id
    seen: list[dict[str, Any]] = []
    try:
        with api.stream("GET", f"/jobs/{job_id}/events") as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                seen.append(orjson.loads(line[5:]))
                if seen[-1].get("x-fastproc-nodes", {}).get("done") == 1:
                    gates.open_all()  # the stream showed one node done: let the other end
                if seen[-1]["status"] in ("successful", "failed", "dismissed"):
                    break
    finally:
        gates.open_all()
    assert seen[-1]["status"] == "successful", seen
    counts = [s["x-fastproc-nodes"]["done"] for s in seen if "x-fastproc-nodes" in s]
    assert counts == sorted(counts) and counts[-1] == 2 and 1 in counts, seen


def test_the_api_document_and_conformance_declare_nested_processes(
        api: httpx.Client) -> None:
    conformance = api.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-processes-3/0.0/conf/nested-processes" \
        in conformance
    assert "http://www.opengis.net/spec/ogcapi-processes-3/0.0/conf/remote-core-processes" \
        in conformance
    execute = api.get("/api").json()["paths"]["/processes/{process_id}/execution"]["post"]
    assert "nested" in execute["description"]


def test_the_command_line_runs_a_workflow_file_with_its_nodes_progress(
        stack: Stack, tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(orjson.dumps({"process": f"{stack.url}/processes/add", "inputs": {
        "a": nest("number_stats", {"numbers": [1, 2, 3]}, outputs={"mean": {}}),
        "b": nest("slow_number", {"x": 5, "seconds": 0.2})}, "outputs": {"sum": {}}}).decode())
    run = subprocess.run(
        [sys.executable, "-m", "fastproc", "run", "--workflow", str(flow), "--plain",
         "--json", "--url", stack.url], capture_output=True, text=True, timeout=120,
        check=False, env={k: v for k, v in os.environ.items() if k != "FASTPROC_URL"})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"sum": 7}
    assert "2 of 2 nested processes done" in run.stderr, run.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "fastproc", "run", "--workflow", str(tmp_path / "none.json"),
         "--url", stack.url], capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 1 and "cannot read the workflow" in bad.stderr, bad.stderr


@pytest.mark.slow
def test_a_worker_killed_mid_tree_still_ends_the_job(
        procs: Processes, r: redis.Redis, key_prefix: str) -> None:
    killed = procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES,
                         FASTPROC_WORKER_LEASE="3", FASTPROC_JOB_TIMEOUT="600")
    with killed.client() as client:
        inputs = {"a": nest("slow_number", {"x": 1, "seconds": 2}),
                  "b": nest("add", {"a": nest("slow_number", {"x": 2, "seconds": 2}),
                                    "b": 1})}
        job_id = start_job(client, "add", inputs, response="document").id
        wait_for(lambda: "running" in node_states(client, job_id).values(), 30,
                 "a node to run")
        killed.workers[0].send_signal(signal.SIGKILL)
        killed.workers[0].wait(timeout=30)
        procs.worker(r, **killed.env)
        status = wait_job(client, job_id, timeout=120)
        assert status["status"] == "successful", status
        assert client.get(f"/jobs/{job_id}/results").json() == {"sum": 4}
        assert status["x-fastproc-nodes"] == {"done": 3, "total": 3}
        assert flow_keys(r, killed.prefix, job_id) == []
    assert_no_orphaned_running(r, killed.prefix, killed.env["FASTPROC_QUEUE_NAME"])


def test_a_remote_node_runs_on_another_server(
        procs: Processes, r: redis.Redis, key_prefix: str, stack: Stack,
        api: httpx.Client) -> None:
    other = procs.stack(r, key_prefix, FASTPROC_PROCESSES="workers.examples")
    remote_add = nest(f"{other.url}/processes/add", {"a": 1, "b": nest("add", {"a": 1,
                                                                              "b": 1})})
    response = api.post("/processes/add/execution", headers=NO_CACHE, json={
        "inputs": {"a": remote_add, "b": 10}, "response": "document"})
    assert response.status_code == 200, response.text
    assert response.json() == {"sum": 13}
    with other.client() as there:
        jobs = there.get("/jobs", params={"processID": "add"}).json()["jobs"]
    assert len(jobs) == 2  # the remote node and its child, each run by the other server
    remote_sleep = nest(f"{other.url}/processes/sleep", {"seconds": 0.2})  # async only
    response = api.post("/processes/add/execution", headers=NO_CACHE, json={
        "inputs": {"a": remote_sleep, "b": 1}, "response": "document"})
    assert response.json() == {"sum": 1.2}, response.text
    remote_fail = nest(f"{other.url}/processes/fail", {"message": "over there"})
    response = api.post("/processes/echo/execution", headers=NO_CACHE, json={
        "inputs": {"value": remote_fail}})
    problem = assert_exception(response, 500)
    assert problem["detail"].startswith("inputs.value: ") and "over there" in \
        problem["detail"], problem
    assert problem["type"] != OGC_EXCEPTIONS + "no-such-process"


def test_a_hostile_remote_server_fails_its_node_and_nothing_else(
        api: httpx.Client, local_http: LocalHTTP) -> None:
    """A "server" on loopback that answers garbage, too much or a redirect."""
    local_http.serve("junk/processes/add", b"<html>not json")
    local_http.serve("huge/processes/add", b"[" + b"1," * 100_000 + b"1]", "application/json")
    local_http.serve("empty/processes/add", b'{"outputs": {}}', "application/json")
    for server, says in [
        (f"{local_http.url}/files/junk", "is not JSON"),
        (f"{local_http.url}/files/huge", "over 100000 bytes (FASTPROC_FETCH_MAX_BYTES)"),
        (f"{local_http.url}/redirect/x", "answered 302"),
        (f"{local_http.url}/files/empty", "describes no output"),
        (f"{local_http.url}/files/missing", "answered 404: not here"),
    ]:
        response = api.post("/processes/add/execution", headers=NO_CACHE, json={"inputs": {
            "a": nest(f"{server}/processes/add", {"a": 1, "b": 1}), "b": 1}})
        problem = assert_exception(response, 500)
        assert problem["detail"].startswith("inputs.a: ") and says in problem["detail"], \
            (server, problem)
    # Its execution answered with no results at all (204).
    response = api.post("/processes/add/execution", headers=NO_CACHE, json={"inputs": {
        "a": nest(f"{local_http.url}/hooks/processes/add", {"a": 1, "b": 1},
                  outputs={"sum": {}}), "b": 1}})
    assert "/execution answered 204" in assert_exception(response, 500)["detail"]
    assert api.post("/processes/add/execution", headers=NO_CACHE, json={"inputs": {
        "a": nest("add", {"a": 1, "b": 1}), "b": 1}}).text == "3.0"


def test_remote_waits_may_hold_half_the_worker_slots_by_default_and_never_all() -> None:
    def limit(concurrency: int, wanted: int | None = None) -> int:
        return RemoteSlots.of(Settings(worker_concurrency=concurrency,
                                       workflow_remote_slots=wanted)).limit

    assert [limit(50), limit(4), limit(3), limit(2), limit(1)] == [25, 2, 1, 1, 1]
    assert [limit(50, 10), limit(50, 49), limit(50, 50), limit(4, 100)] == [10, 49, 49, 3]


def test_remote_nodes_calling_this_same_server_never_hold_every_worker_slot(
        procs: Processes, r: redis.Redis, key_prefix: str) -> None:
    """More remote nodes than the worker has slots, each calling this same server under
    another name: the job each one waits for needs a slot of that same worker."""
    slots, time_limit = 4, 30
    own = procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES,
                      FASTPROC_WORKER_CONCURRENCY=str(slots),
                      FASTPROC_JOB_TIMEOUT=str(time_limit))
    bound = RemoteSlots.of(Settings(worker_concurrency=slots)).limit
    assert bound < slots
    same = own.url.replace("127.0.0.1", "localhost")

    def remote(x: int) -> dict[str, Any]:
        return nest(f"{same}/processes/slow_number", {"x": x, "seconds": 0.3})

    with own.client(timeout=60) as client:
        ids = [start_job(client, "add", {"a": remote(i), "b": remote(100 + i)},
                         response="document").id for i in range(6)]
        peak = 0

        def all_ended() -> bool:
            nonlocal peak
            # Each job of slow_number is one remote call waiting in a slot until it ends.
            waited_for = client.get("/jobs", params={
                "processID": "slow_number", "status": ["accepted", "running"], "limit": 100})
            peak = max(peak, len(waited_for.json()["jobs"]))
            return all(client.get(f"/jobs/{job_id}").json()["status"] in ENDED
                       for job_id in ids)

        wait_for(all_ended, time_limit, "every workflow to end within the remote calls' "
                 "time limit", every=0.05)
        for i, job_id in enumerate(ids):
            status = client.get(f"/jobs/{job_id}").json()
            assert status["status"] == "successful", status
            assert client.get(f"/jobs/{job_id}/results").json() == {"sum": 100 + 2 * i}
    assert 1 <= peak <= bound, peak


def test_remote_processes_obey_the_address_rules(
        procs: Processes, r: redis.Redis, key_prefix: str) -> None:
    strict = procs.stack(r, key_prefix, FASTPROC_PROCESSES="workers.examples",
                         FASTPROC_ALLOW_PRIVATE_ADDRESSES="false",
                         FASTPROC_WORKFLOW_MAX_NODES="3")
    with strict.client() as client:
        for host in ("127.0.0.1:9", "169.254.169.254", "localhost:6379"):
            response = client.post("/processes/add/execution", json={"inputs": {
                "a": nest(f"http://{host}/processes/add", {"a": 1, "b": 1}), "b": 1}})
            problem = assert_exception(response, 400, "InvalidParameterValue")
            assert problem["detail"].startswith("inputs.a: its server"), problem
        response = client.post("/processes/add/execution", json={"inputs": chain(3)})
        assert "FASTPROC_WORKFLOW_MAX_NODES" in assert_exception(response, 400)["detail"]
