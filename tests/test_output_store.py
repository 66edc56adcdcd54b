"""Outputs above the inline limit go to the output store (a local directory here), end to
end: the real API and workers as processes, a real Valkey."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from tests.localhttp import LocalHTTP
from tests.output_processes import pattern
from tests.support import ROOT, Processes, Stack, start_job, wait_for

INLINE = 1000
PROCESSES = "workers.examples,tests.output_processes"
KEYS = {"alice": "alice-key-0123456789", "bob": "bob-key-0123456789"}
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def outputs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str, outputs_dir: Path) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES,
                       FASTPROC_INLINE_OUTPUT_BYTES=str(INLINE),
                       FASTPROC_OUTPUT_STORE=outputs_dir.as_uri(),
                       FASTPROC_OUTPUT_SWEEP_INTERVAL="0.2",
                       FASTPROC_API_KEYS=",".join(f"{n}:{k}" for n, k in KEYS.items()))


def client_of(stack: Stack, who: str = "alice") -> httpx.Client:
    return httpx.Client(base_url=stack.url, timeout=60,
                        headers={"Authorization": f"Bearer {KEYS[who]}"})


def finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    status: dict[str, Any] = wait_for(
        lambda: (s := client.get(f"/jobs/{job_id}").json())["status"] not in
        ("accepted", "running") and s, 60, f"job {job_id} to end")
    return status


def stored_document(r: redis.Redis, stack: Stack, job_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(r.get(f"{stack.prefix}:job:{job_id}:result") or b"{}")
    return doc


def objects_in(outputs_dir: Path) -> set[str]:
    return {p.name for p in (outputs_dir / "outputs").glob("*")} \
        if (outputs_dir / "outputs").exists() else set()


def run_job(client: httpx.Client, process: str, size: int, **body: Any) -> str:
    job = start_job(client, process, {"size": size}, **body)
    assert finished(client, job.id)["status"] == "successful", client.get(
        f"/jobs/{job.id}").text
    return job.id


@pytest.mark.parametrize("process", ["stream-bytes", "file-bytes", "held-bytes"])
def test_large_output_is_an_object_and_only_its_description_is_in_redis(
        stack: Stack, r: redis.Redis, outputs_dir: Path, process: str) -> None:
    size = 3 * MiB + 17
    with client_of(stack) as client:
        job_id = run_job(client, process, size)
        stored = stored_document(r, stack, job_id)["result"]
        assert re.fullmatch(r"outputs/[0-9a-f]{48}", stored["object"]), stored
        assert stored["size"] == size
        assert stored["sha256"] == hashlib.sha256(pattern(size)).hexdigest()
        assert len(r.get(f"{stack.prefix}:job:{job_id}:result") or b"") < 500
        assert not r.exists(f"{stack.prefix}:job:{job_id}:output:result")
        assert (outputs_dir / stored["object"]).stat().st_size == size
        with client.stream("GET", f"/jobs/{job_id}/results/result") as response:
            assert response.status_code == 200
            assert response.headers["content-length"] == str(size)
            assert response.headers["content-security-policy"] == "sandbox"
            body = b"".join(response.iter_bytes())
        assert body == pattern(size)


def test_small_output_stays_in_redis(stack: Stack, r: redis.Redis) -> None:
    with client_of(stack) as client:
        job_id = run_job(client, "stream-bytes", INLINE)
        stored = stored_document(r, stack, job_id)["result"]
        assert "object" not in stored and stored["encoding"] == "base64"
        assert client.get(f"/jobs/{job_id}/results/result").content == pattern(INLINE)


def test_raw_response_reference_links_and_document_read_the_object(stack: Stack) -> None:
    size = 2 * MiB
    with client_of(stack) as client:
        job_id = run_job(client, "stream-bytes", size)
        raw = client.get(f"/jobs/{job_id}/results")
        assert raw.status_code == 200 and raw.content == pattern(size)
        by_ref = run_job(client, "stream-bytes", size, response="document",
                         outputs={"result": {"transmissionMode": "reference"}})
        link = client.get(f"/jobs/{by_ref}/results").json()["result"]
        assert link["href"] == f"{stack.url}/jobs/{by_ref}/results/result"
        assert client.get(link["href"]).content == pattern(size)
        by_value = run_job(client, "stream-bytes", size, response="document")
        value = client.get(f"/jobs/{by_value}/results").json()["result"]
        assert value["encoding"] == "base64" and len(value["value"]) > size


def _peak_rss_kib(pid: int) -> int:
    """A process's high-water RSS (`VmHWM`): what a burst cost, even once freed."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def test_a_large_output_by_value_in_a_document_is_streamed_by_the_api(stack: Stack) -> None:
    """64 MiB by value is 85 MiB of base64 in the document: the API writes it as it reads
    the object, its peak RSS growing by far less than the output."""
    size = 64 * MiB + 1
    with client_of(stack) as client:
        job_id = run_job(client, "two-outputs", size, response="document")
        before = _peak_rss_kib(stack.api.pid)
        with client.stream("GET", f"/jobs/{job_id}/results") as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            assert response.headers["content-security-policy"] == "sandbox"
            body = b"".join(response.iter_bytes())
        grown_mib = (_peak_rss_kib(stack.api.pid) - before) / 1024
        assert int(response.headers["content-length"]) == len(body)
        doc = orjson.loads(body)
        assert doc["note"] == "hello"
        assert doc["data"]["encoding"] == "base64"
        assert doc["data"]["mediaType"] == "application/octet-stream"
        data = base64.b64decode(doc["data"]["value"], validate=True)
        assert hashlib.sha256(data).digest() == hashlib.sha256(pattern(size)).digest()
        assert grown_mib < 32, f"the API's peak RSS grew by {grown_mib:.0f} MiB"


def test_a_document_names_a_vanished_object_before_sending_anything(
        stack: Stack, r: redis.Redis, outputs_dir: Path) -> None:
    with client_of(stack) as client:
        job_id = run_job(client, "two-outputs", 2 * MiB, response="document")
        (outputs_dir / stored_document(r, stack, job_id)["data"]["object"]).unlink()
        response = client.get(f"/jobs/{job_id}/results")
        assert response.status_code == 404
        assert "is gone" in response.json()["detail"]


def test_the_success_callback_links_to_an_object_and_never_names_its_key(
        stack: Stack, r: redis.Redis, local_http: LocalHTTP) -> None:
    size = 2 * MiB + 1
    hook = local_http.hook(f"objects-{os.urandom(4).hex()}")
    with client_of(stack) as client:
        job_id = run_job(client, "two-outputs", size, subscriber={"successUri": hook})
        key = stored_document(r, stack, job_id)["data"]["object"]
        body = local_http.wait_for_calls(hook.rsplit("/", 1)[1], 1, 30)[0]
        assert key.encode() not in body and b"sha256" not in body
        sent = orjson.loads(body)
        assert sent == {"note": "hello", "data": {
            "href": f"{stack.url}/jobs/{job_id}/results/data",
            "rel": "http://www.opengis.net/def/rel/ogc/1.0/results",
            "type": "application/octet-stream", "title": "data"}}
        assert client.get(sent["data"]["href"]).content == pattern(size)


def test_multipart_answer_streams_the_object(stack: Stack) -> None:
    size = 2 * MiB + 3
    with client_of(stack) as client:
        job_id = run_job(client, "two-outputs", size)
        response = client.get(f"/jobs/{job_id}/results")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("multipart/related")
        assert pattern(size) in response.content and b"hello" in response.content


def test_results_page_previews_the_first_bytes_of_the_object(stack: Stack) -> None:
    with client_of(stack) as client:
        job = start_job(client, "two-outputs", {"size": 3 * MiB})
        assert finished(client, job.id)["status"] == "successful"
        page = client.get(f"/jobs/{job.id}/results", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "hello" in page.text
        assert f"/jobs/{job.id}/results/data" in page.text


def test_another_caller_never_reads_the_object(stack: Stack) -> None:
    with client_of(stack) as alice, client_of(stack, "bob") as bob:
        job_id = run_job(alice, "stream-bytes", 2 * MiB)
        assert bob.get(f"/jobs/{job_id}/results/result").status_code == 404
        assert bob.get(f"/jobs/{job_id}/results").status_code == 404
        for hostile in ("..%2Foutputs", "outputs", "result%00", "x" * 2000):
            assert alice.get(f"/jobs/{job_id}/results/{hostile}").status_code == 404


def test_dismissing_a_job_deletes_its_object(stack: Stack, r: redis.Redis,
                                             outputs_dir: Path) -> None:
    with client_of(stack) as client:
        job_id = run_job(client, "file-bytes", 2 * MiB)
        key = stored_document(r, stack, job_id)["result"]["object"]
        assert (outputs_dir / key).exists()
        assert r.zscore(f"{stack.prefix}:outputs:expiry", key) is not None
        assert client.delete(f"/jobs/{job_id}").status_code == 200
        assert not (outputs_dir / key).exists()
        assert r.zscore(f"{stack.prefix}:outputs:expiry", key) is None
        assert client.get(f"/jobs/{job_id}/results/result").status_code == 404


def test_an_expired_jobs_object_is_swept(procs: Processes, r: redis.Redis, key_prefix: str,
                                         tmp_path: Path) -> None:
    stack = procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES,
                        FASTPROC_INLINE_OUTPUT_BYTES=str(INLINE),
                        FASTPROC_OUTPUT_STORE=tmp_path.as_uri(),
                        FASTPROC_OUTPUT_SWEEP_INTERVAL="0.2", FASTPROC_JOB_TTL="2")
    with stack.client() as client:
        job_id = run_job(client, "stream-bytes", 2 * MiB)
        key = stored_document(r, stack, job_id)["result"]["object"]
        assert (tmp_path / key).exists()
        wait_for(lambda: not r.exists(f"{stack.prefix}:job:{job_id}"), 10, "the job to expire")
        wait_for(lambda: not (tmp_path / key).exists(), 10, "the sweep to delete the object")
        assert r.zcard(f"{stack.prefix}:outputs:expiry") == 0


def test_an_upload_is_indexed_before_it_starts(stack: Stack, r: redis.Redis,
                                               outputs_dir: Path, tmp_path: Path) -> None:
    """A worker killed mid-upload leaves nothing unindexed: the key is in the expiry index
    while the object is being written."""
    gate = tmp_path / "gate"
    index = f"{stack.prefix}:outputs:expiry"
    before = set(r.zrange(index, 0, -1))
    with client_of(stack) as client:
        job = start_job(client, "gated-stream", {"gate": str(gate)})
        added = wait_for(lambda: set(r.zrange(index, 0, -1)) - before, 30,
                         "the upload's key in the index")
        assert finished_or_running(client, job.id) == "running"
        gate.touch()
        assert finished(client, job.id)["status"] == "successful"
        key = stored_document(r, stack, job.id)["result"]["object"]
        assert key.encode() in added


def finished_or_running(client: httpx.Client, job_id: str) -> str:
    return str(client.get(f"/jobs/{job_id}").json()["status"])


def test_a_stream_that_yields_no_bytes_fails_its_job(stack: Stack) -> None:
    with client_of(stack) as client:
        job = start_job(client, "not-bytes-stream", {})
        status = finished(client, job.id)
        assert status["status"] == "failed"
        assert "yielded a str, not bytes" in status["message"]


def test_a_wrong_store_url_stops_the_worker_with_one_line(procs: Processes,
                                                          key_prefix: str) -> None:
    for url in ("nosuch://bucket/x", "s3://bucket/x"):
        done = subprocess.run(
            [sys.executable, "-m", "fastproc", "worker"], cwd=ROOT, capture_output=True,
            timeout=120, env={**os.environ, **procs.env, "FASTPROC_OUTPUT_STORE": url,
                              "FASTPROC_KEY_PREFIX": f"{key_prefix}badstore",
                              "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                              "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
                              "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1"})
        assert done.returncode != 0
        lines = [ln for ln in done.stderr.decode().splitlines()
                 if "fastproc worker cannot start" in ln]
        assert len(lines) == 1 and url in lines[0], done.stderr.decode()[-2000:]
        assert "Traceback" not in done.stderr.decode()
