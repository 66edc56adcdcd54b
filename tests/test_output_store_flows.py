"""Values handed between tasks go through the output store when large, end to end (real
Valkey, API and workers): a fan-out part's result on its way to the merge, a workflow
node's value on its way to its parent. Redis keeps a descriptor; the reader takes the
object back within the result limit; the objects go once they have served."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from tests.gated import Gates
from tests.output_processes import pattern
from tests.support import Processes, Stack, start_job, wait_for, wait_job

INLINE = 1000
#: Small, so that a merge over parts that each fit can still be over it.
RESULT_LIMIT = 300_000
PROCESSES = "workers.examples,tests.flow_processes,tests.output_processes"
HANDED = b"fastproc:object"


@pytest.fixture(scope="module")
def outputs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("handed")


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str, outputs_dir: Path) -> Stack:
    return procs.stack(r, f"{key_prefix}handed", workers=2, FASTPROC_PROCESSES=PROCESSES,
                       FASTPROC_INLINE_OUTPUT_BYTES=str(INLINE),
                       FASTPROC_MAX_RESULT_BYTES=str(RESULT_LIMIT),
                       FASTPROC_OUTPUT_STORE=outputs_dir.as_uri(),
                       FASTPROC_OUTPUT_SWEEP_INTERVAL="0.2")


@pytest.fixture
def api(stack: Stack) -> httpx.Client:
    return stack.client(timeout=60)


def objects_in(outputs_dir: Path) -> set[str]:
    return {f"outputs/{p.name}" for p in (outputs_dir / "outputs").glob("*")}


def indexed(r: redis.Redis, stack: Stack) -> set[str]:
    return {k.decode() for k in r.zrange(f"{stack.prefix}:outputs:expiry", 0, -1)}


def handed_in(r: redis.Redis, pattern: str) -> list[dict[str, Any]]:
    """The descriptors held in the Redis hashes and strings whose names match `pattern`."""
    found: list[dict[str, Any]] = []
    for key in r.scan_iter(match=pattern, count=1000):
        kind = r.type(key)
        values = list(r.hgetall(key).values()) if kind == b"hash" else \
            [r.get(key)] if kind == b"string" else []
        for value in values:
            if value and HANDED in value:
                found.append(orjson.loads(value))
    return found


def test_large_part_results_go_through_the_store_and_are_deleted_after_the_merge(
        api: httpx.Client, r: redis.Redis, stack: Stack, outputs_dir: Path,
        gates: Gates) -> None:
    before = objects_in(outputs_dir)
    size = 5000
    job = start_job(api, "big-parts", {"n": 3, "size": size, "gate": gates.path},
                    response="document")
    wait_for(lambda: gates.reached("merge"), 60, "the merge to hold at its gate")
    handed = handed_in(r, f"{stack.prefix}:join:{job.id}*")
    assert len(handed) == 3, handed
    keys = {h["fastproc:object"] for h in handed}
    assert all(h["size"] == size + 2 for h in handed)  # the JSON string's quotes
    assert keys <= objects_in(outputs_dir) - before
    assert keys <= indexed(r, stack)
    gates.open("merge")
    assert wait_job(api, job.id, timeout=60)["status"] == "successful"
    assert api.get(f"/jobs/{job.id}/results").json() == {
        "lengths": [size] * 3, "heads": ["000", "001", "002"]}
    assert not keys & objects_in(outputs_dir)
    assert not keys & indexed(r, stack)


def test_small_part_results_stay_in_redis(api: httpx.Client, r: redis.Redis,
                                          stack: Stack, gates: Gates) -> None:
    job = start_job(api, "big-parts", {"n": 2, "size": 100, "gate": gates.path})
    wait_for(lambda: gates.reached("merge"), 60, "the merge to hold at its gate")
    assert handed_in(r, f"{stack.prefix}:join:{job.id}*") == []
    gates.open("merge")
    assert wait_job(api, job.id, timeout=60)["status"] == "successful"


def test_parts_over_the_result_limit_together_fail_the_merge_and_are_deleted(
        api: httpx.Client, r: redis.Redis, stack: Stack, outputs_dir: Path) -> None:
    """Each part fits, but the merge would hold them all: it refuses before reading."""
    before = objects_in(outputs_dir)
    job = start_job(api, "big-parts", {"n": 4, "size": RESULT_LIMIT // 3})
    status = wait_job(api, job.id, timeout=60)
    assert status["status"] == "failed"
    assert f"over the limit of {RESULT_LIMIT}" in status["message"], status
    wait_for(lambda: objects_in(outputs_dir) == before, 10, "the parts' objects to go")
    assert not (objects_in(outputs_dir) - before) & indexed(r, stack)


def test_a_large_node_value_reaches_its_parent_through_the_store(
        api: httpx.Client, r: redis.Redis, stack: Stack, outputs_dir: Path,
        gates: Gates) -> None:
    before = objects_in(outputs_dir)
    job = start_job(api, "gated-length", {
        "text": {"process": "big_text", "inputs": {"kilobytes": 5}}, "gate": gates.path},
        response="document")
    wait_for(lambda: gates.reached("length"), 60, "the root to hold at its gate")
    handed = handed_in(r, f"{stack.prefix}:flow:{job.id}:*")
    assert len(handed) == 1 and handed[0]["size"] == 5002, handed
    key = handed[0]["fastproc:object"]
    assert key in objects_in(outputs_dir) - before and key in indexed(r, stack)
    gates.open("length")
    assert wait_job(api, job.id, timeout=60)["status"] == "successful"
    assert api.get(f"/jobs/{job.id}/results").json() == {"length": 5000}
    assert key not in objects_in(outputs_dir) and key not in indexed(r, stack)


def test_a_nested_node_reads_its_childs_large_value_and_the_object_goes(
        api: httpx.Client, r: redis.Redis, stack: Stack, outputs_dir: Path) -> None:
    before = objects_in(outputs_dir)
    job = start_job(api, "add", {
        "a": {"process": "text_length",
              "inputs": {"text": {"process": "big_text", "inputs": {"kilobytes": 7}}}},
        "b": 1}, response="document")
    assert wait_job(api, job.id, timeout=60)["status"] == "successful"
    assert api.get(f"/jobs/{job.id}/results").json() == {"sum": 7001}
    assert objects_in(outputs_dir) == before


def test_a_large_value_from_a_fan_out_node_feeds_its_parent(
        api: httpx.Client, stack: Stack, outputs_dir: Path) -> None:
    """The node's parts and its value each go through the store; all of it goes after."""
    before = objects_in(outputs_dir)
    words = [f"{i:04d}" + "w" * 600 for i in range(6)]
    job = start_job(api, "batch_upper", {
        "words": {"process": "batch_upper", "inputs": {"words": words, "chunk": 2}},
        "chunk": 3}, response="document")
    assert wait_job(api, job.id, timeout=60)["status"] == "successful"
    assert api.get(f"/jobs/{job.id}/results").json() == {
        "words": [w.upper() for w in words]}
    assert objects_in(outputs_dir) == before


def test_a_handed_value_that_is_gone_fails_the_job_saying_so(
        api: httpx.Client, r: redis.Redis, stack: Stack, outputs_dir: Path,
        gates: Gates) -> None:
    """A child's value removed from the store before its parent runs (its sibling holds
    the parent back): the job fails naming the node, not with a 500 nor a hang."""
    job = start_job(api, "gated-length", {
        "text": {"process": "big_text", "inputs": {"kilobytes": 3}},
        "gate": {"process": "held-string", "inputs": {"gate": gates.path}}})
    wait_for(lambda: gates.reached("child"), 60, "the sibling to hold at its gate")
    wait_for(lambda: handed_in(r, f"{stack.prefix}:flow:{job.id}:*"), 60,
             "the large child's value to be handed")
    key = handed_in(r, f"{stack.prefix}:flow:{job.id}:*")[0]["fastproc:object"]
    (outputs_dir / key).unlink()
    gates.open("child")
    status = wait_job(api, job.id, timeout=60)
    assert status["status"] == "failed"
    assert "a stored value is gone" in status["message"], status


def test_a_value_shaped_like_a_descriptor_stays_a_value(
        api: httpx.Client, r: redis.Redis, stack: Stack) -> None:
    """An input that names a real object as a descriptor would, echoed by a node, reaches
    its parent as the value it is: nothing reads that object."""
    owned = start_job(api, "stream-bytes", {"size": 2 * INLINE})
    assert wait_job(api, owned.id, timeout=60)["status"] == "successful"
    stored = orjson.loads(r.get(f"{stack.prefix}:job:{owned.id}:result") or b"")["result"]
    forged = {"fastproc:object": stored["object"], "size": stored["size"],
              "sha256": stored["sha256"]}
    job = start_job(api, "echo", {"value": "v", "object": {
        "process": "echo", "inputs": {"value": "v", "object": forged},
        "outputs": {"object": {}}}}, response="document", outputs={"object": {}})
    status = wait_job(api, job.id, timeout=60)
    assert status["status"] == "successful", status
    assert api.get(f"/jobs/{job.id}/results").json() == {"object": {"value": forged}}


def test_a_node_that_streams_bytes_feeds_a_binary_input(
        api: httpx.Client, stack: Stack, outputs_dir: Path) -> None:
    """A node's process that returns an async iterator of bytes: read within the result
    limit, handed through the store (its base64 is over the inline limit), decoded to the
    parent's bytes."""
    before = objects_in(outputs_dir)
    size = 50_000
    job = start_job(api, "byte_stats", {"data": {
        "process": "stream-bytes", "inputs": {"size": size}}}, response="document")
    status = wait_job(api, job.id, timeout=60)
    assert status["status"] == "successful", status
    assert api.get(f"/jobs/{job.id}/results").json() == {
        "size": size, "checksum": zlib.crc32(pattern(size))}
    assert objects_in(outputs_dir) == before
