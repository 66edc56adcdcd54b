"""Large binary results: stored apart as raw bytes, streamed raw or by reference, bounded by
a configured maximum."""

from __future__ import annotations

import base64

import httpx
import redis

from tests.support import Processes, submit_async, wait_job

MB = 1024 * 1024


def test_a_large_binary_output_is_stored_raw_and_served_every_way(
    client: httpx.Client, r: redis.Redis, key_prefix: str
) -> None:
    raw = client.post("/processes/big_blob/execution", json={"inputs": {"megabytes": 3}})
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/octet-stream"
    assert raw.content == bytes(3 * MB)
    job_id = raw.headers["link"].split("/jobs/")[1].split(">")[0]
    stored = r.get(f"{key_prefix}:job:{job_id}:output:data")
    assert stored is not None and len(stored) == 3 * MB
    document = r.get(f"{key_prefix}:job:{job_id}:result")
    assert document is not None and len(document) < 200  # no base64 copy in the document
    by_value = client.get(f"/jobs/{job_id}/results", params={"f": "json"})
    assert by_value.content == bytes(3 * MB)
    linked = client.get(f"/jobs/{job_id}/results/data")
    assert linked.content == bytes(3 * MB)
    as_document = client.post("/processes/big_blob/execution", json={
        "inputs": {"megabytes": 1.5}, "response": "document"})
    value = as_document.json()["data"]
    assert value["encoding"] == "base64" and value["mediaType"] == "application/octet-stream"
    assert base64.b64decode(value["value"]) == bytes(int(1.5 * MB))


def test_dismissing_a_finished_job_removes_its_outputs(client: httpx.Client, r: redis.Redis,
                                                      key_prefix: str) -> None:
    job_id = submit_async(client, "big_blob", {"megabytes": 2})
    assert wait_job(client, job_id)["status"] == "successful"
    output = f"{key_prefix}:job:{job_id}:output:data"
    assert r.exists(output)
    assert client.delete(f"/jobs/{job_id}").status_code == 200
    assert not r.exists(output)
    assert r.hget(f"{key_prefix}:job:{job_id}", "status") == b"dismissed"
    assert client.get(f"/jobs/{job_id}/results").status_code == 404


def test_a_result_over_the_maximum_fails_the_job_clearly(procs: Processes, r: redis.Redis,
                                                         key_prefix: str) -> None:
    stack = procs.stack(r, key_prefix, FASTPROC_MAX_RESULT_BYTES=str(MB))
    prefix = stack.prefix
    with stack.client(timeout=30) as client:
        job_id = submit_async(client, "big_blob", {"megabytes": 2})
        status = wait_job(client, job_id)
        assert status["status"] == "failed"
        assert "over the limit" in status["message"]
        assert "FASTPROC_MAX_RESULT_BYTES" in status["message"]
        assert not list(r.scan_iter(match=f"{prefix}:job:{job_id}:output:*"))
