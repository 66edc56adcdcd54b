"""A fan-out process as a workflow node, end to end (real Valkey, API and workers): its parts
are tasks of their own on the node's own counter join, run by any worker at once, and its
merge gives the node's value; the node's join keys go when the node ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from fastproc.wire.enqueue import enqueue_in, nudge
from fastproc.wire.names import NODE_TASK, job_of, join_of, node_job_id, part_job_id
from tests.gated import Gates, part_gate
from tests.support import Processes, Stack, start_job, wait_for, wait_job

PROCESSES = "workers.examples,tests.processes,tests.flow_processes,tests.gated"
#: Tasks one worker runs at once: with two workers, more parts than this running together
#: must run on both.
CONCURRENCY = 2
NO_CACHE = {"Cache-Control": "no-cache"}


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, workers=2, FASTPROC_PROCESSES=PROCESSES,
                       FASTPROC_WORKER_CONCURRENCY=str(CONCURRENCY))


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client(timeout=60) as client:
        yield client


def nest(process: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"process": process, "inputs": inputs, **extra}


def join_keys(r: redis.Redis, prefix: str, job_id: str) -> list[bytes]:
    return list(r.scan_iter(match=f"{prefix}:join:{job_id}*", count=1000))


def flow_keys(r: redis.Redis, prefix: str, job_id: str) -> list[bytes]:
    return list(r.scan_iter(match=f"{prefix}:flow:{job_id}:*", count=1000))


def run(api: httpx.Client, process: str, inputs: dict[str, Any],
        **body: Any) -> tuple[str, dict[str, Any]]:
    job_id = start_job(api, process, inputs, **body).id
    return job_id, wait_job(api, job_id, timeout=120)


def test_the_task_ids_of_a_nodes_join_name_its_job_and_its_join() -> None:
    join = node_job_id("j1", 3)
    assert part_job_id(join, 7) == "j1:node:3:part:7"
    assert (job_of("j1:node:3:part:7"), join_of("j1:node:3:part:7")) == ("j1", join)
    assert (job_of("j1:node:3:merge"), join_of("j1:node:3:merge")) == ("j1", join)
    assert (job_of("j1:part:7"), join_of("j1:part:7")) == ("j1", "j1")
    assert (job_of("j1:merge"), join_of("j1:merge")) == ("j1", "j1")


def test_a_fan_out_node_gives_what_the_process_gives_on_its_own(
        api: httpx.Client, r: redis.Redis, stack: Stack) -> None:
    words = [f"w{i}" for i in range(200)]
    alone = api.post("/processes/batch_upper/execution", headers=NO_CACHE,
                     json={"inputs": {"words": words, "chunk": 1}, "response": "document"})
    assert alone.status_code == 200, alone.text
    # 200 parts as a node, feeding a parent that fans out too (the job's own join).
    job_id, status = run(api, "batch_upper", {
        "words": nest("batch_upper", {"words": words, "chunk": 1}), "chunk": 50},
        response="document")
    assert status["status"] == "successful", status
    assert api.get(f"/jobs/{job_id}/results").json() == alone.json() == {
        "words": [w.upper() for w in words]}
    assert status["x-fastproc-nodes"] == {"done": 1, "total": 1}
    # A scatter node: each step a part of the node's join.
    text = "the cat and the hat"
    job_id2, status = run(api, "add", {
        "a": nest("text_stats", {"text": text}, outputs={"word_count": {}}), "b": 1},
        response="document")
    assert status["status"] == "successful", status
    assert api.get(f"/jobs/{job_id2}/results").json() == {"sum": 6}
    for done in (job_id, job_id2):
        assert join_keys(r, stack.prefix, done) == []
        assert flow_keys(r, stack.prefix, done) == []


def test_the_parts_of_a_fan_out_node_run_at_once_on_both_workers(
        api: httpx.Client, r: redis.Redis, stack: Stack, tmp_path: Path) -> None:
    # Each part waits until all have started: run one after another, or on one worker
    # (at most CONCURRENCY tasks at once), the first part would wait in vain and fail.
    parts = 2 * CONCURRENCY
    barrier = nest("barrier_parts", {"n": parts, "gate": str(tmp_path), "seconds": 60},
                   outputs={"workers": {}})
    job_id, status = run(api, "add", {"a": barrier, "b": 0}, response="document")
    assert status["status"] == "successful", status
    assert api.get(f"/jobs/{job_id}/results").json() == {"sum": 2}  # two worker processes
    assert len(list(tmp_path.glob("started-*"))) == parts
    assert join_keys(r, stack.prefix, job_id) == []


def test_a_part_that_fails_fails_the_workflow_naming_its_node(
        api: httpx.Client, r: redis.Redis, stack: Stack) -> None:
    failing = nest("slow_parts", {"n": 6, "fail_on": 3}, outputs={"order": {}})
    job_id, status = run(api, "number_stats", {"numbers": failing})
    assert status["status"] == "failed", status
    assert status["message"] == ("inputs.numbers: part 3 of process 'slow_parts' failed: "
                                 "ValueError: part 3 was told to fail"), status
    nodes = api.get(f"/jobs/{job_id}/nodes").json()["nodes"]
    assert {n["path"]: n["status"] for n in nodes}["inputs.numbers"] == "failed", nodes
    wait_for(lambda: not join_keys(r, stack.prefix, job_id), 30,
             "the node's join keys to go")
    assert flow_keys(r, stack.prefix, job_id) == []


def test_a_dismissed_workflow_drops_its_nodes_join_and_its_pending_parts_skip(
        api: httpx.Client, r: redis.Redis, stack: Stack, tmp_path: Path) -> None:
    gates = Gates(tmp_path)
    # More parts than the two workers run at once: some are still queued at the dismissal.
    n = 2 * CONCURRENCY + 3
    job_id = start_job(api, "number_stats", {
        "numbers": nest("gated_parts", {"n": n, "gate": gates.path}, outputs={"order": {}})}).id
    wait_for(lambda: sum(gates.reached(part_gate(i)) for i in range(n)) == 2 * CONCURRENCY,
             30, "the workers to be full of the node's parts")
    keys = join_keys(r, stack.prefix, job_id)
    assert keys, "the node's join exists while its parts run"
    assert all(r.ttl(k) > 0 for k in keys), {k: r.ttl(k) for k in keys}
    assert api.delete(f"/jobs/{job_id}").json()["status"] == "dismissed"
    gates.open_all()
    wait_for(lambda: not join_keys(r, stack.prefix, job_id), 30,
             "the node's join keys to go")
    wait_for(lambda: not [t for t in r.zrange(stack.env["FASTPROC_QUEUE_NAME"], 0, -1)
                          if t.decode().startswith(job_id)], 30, "the parts to skip")
    started = sum(gates.reached(part_gate(i)) for i in range(n))
    assert started == 2 * CONCURRENCY, "a part of a dismissed job ran"
    assert api.get(f"/jobs/{job_id}").json()["status"] == "dismissed"
    assert flow_keys(r, stack.prefix, job_id) == []


def test_a_part_run_again_after_its_result_is_stored_is_not_counted_twice(
        api: httpx.Client, r: redis.Redis, stack: Stack, tmp_path: Path) -> None:
    gates = Gates(tmp_path)
    n = 3
    job_id = start_job(api, "number_stats", {
        "numbers": nest("gated_parts", {"n": n, "gate": gates.path}, outputs={"order": {}})},
        outputs={"count": {}}).id
    wait_for(lambda: all(gates.reached(part_gate(i)) for i in range(n)), 30,
             "every part to start")
    [join] = [k.decode() for k in join_keys(r, stack.prefix, job_id)
              if not k.endswith((b":items", b":parts"))]
    join_id = join.removeprefix(f"{stack.prefix}:join:")
    gates.open(part_gate(0))
    wait_for(lambda: r.hexists(f"{join}:parts", "0"), 30, "part 0 to store its result")
    assert int(r.hget(join, "pending") or -1) == n - 1
    # A second run of part 0 (a retry after a lost answer, a duplicate delivery).
    again = part_job_id(join_id, 0)
    queue = stack.env["FASTPROC_QUEUE_NAME"]
    with r.pipeline(transaction=False) as pipe:
        enqueue_in(pipe, again, queue, NODE_TASK, only_new=True)
        nudge(pipe, stack.prefix, queue)
        pipe.execute()
    wait_for(lambda: r.zscore(queue, again) is None and not r.exists(f"arq:job:{again}"),
             30, "the second run of part 0 to end")
    assert int(r.hget(join, "pending") or -1) == n - 1
    gates.open_all()
    status = wait_job(api, job_id, timeout=60)
    assert status["status"] == "successful", status
    assert api.get(f"/jobs/{job_id}/results").json() == n  # one output: raw
    assert join_keys(r, stack.prefix, job_id) == []
