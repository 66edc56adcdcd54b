"""The output store on S3: against moto, run by the test as a server of its own over HTTP
(not patched into the process), with presigned reference links and a store that goes
down under a job."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from tests.output_processes import pattern
from tests.support import Processes, Stack, free_port, start_job, wait_for

BUCKET = "fastproc-outputs"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.put(f"{endpoint}/{BUCKET}", timeout=1).is_success
        except httpx.TransportError:
            return False

    wait_for(up, 60, "moto to create the bucket")
    yield endpoint, server
    if server.poll() is None:
        server.terminate()
        server.wait(timeout=10)


def s3_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false"}


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str,
          moto: tuple[str, subprocess.Popen[bytes]]) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES="workers.examples,"
                       "tests.output_processes", FASTPROC_INLINE_OUTPUT_BYTES="1000",
                       FASTPROC_OUTPUT_STORE=f"s3://{BUCKET}/jobs",
                       FASTPROC_OUTPUT_LINKS="presigned", FASTPROC_JOB_TTL="600",
                       **s3_env(moto[0]))


def finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    status: dict[str, Any] = wait_for(
        lambda: (s := client.get(f"/jobs/{job_id}").json())["status"] not in
        ("accepted", "running") and s, 60, f"job {job_id} to end")
    return status


def test_large_output_goes_to_s3_and_streams_back(stack: Stack, r: redis.Redis,
                                                  moto: tuple[str, Any]) -> None:
    size = 7 * MiB + 5  # two parts of a multipart upload
    with stack.client() as client:
        job = start_job(client, "stream-bytes", {"size": size})
        assert finished(client, job.id)["status"] == "successful"
        stored = orjson.loads(r.get(f"{stack.prefix}:job:{job.id}:result") or b"")["result"]
        assert stored["sha256"] == hashlib.sha256(pattern(size)).hexdigest()
        listed = httpx.get(f"{moto[0]}/{BUCKET}?list-type=2&prefix=jobs/").text
        assert f"jobs/{stored['object']}" in listed
        assert client.get(f"/jobs/{job.id}/results/result").content == pattern(size)


def test_reference_links_are_presigned_urls_that_expire_with_the_job(
        stack: Stack, moto: tuple[str, Any]) -> None:
    with stack.client() as client:
        job = start_job(client, "file-bytes", {"size": 2 * MiB}, response="document",
                        outputs={"result": {"transmissionMode": "reference"}})
        assert finished(client, job.id)["status"] == "successful"
        href = client.get(f"/jobs/{job.id}/results").json()["result"]["href"]
        assert href.startswith(f"{moto[0]}/{BUCKET}/jobs/outputs/"), href
        expires = int(httpx.URL(href).params["X-Amz-Expires"])
        assert 0 < expires <= 600
        assert httpx.get(href, timeout=30).content == pattern(2 * MiB)


def test_dismissal_deletes_the_s3_object(stack: Stack, r: redis.Redis,
                                         moto: tuple[str, Any]) -> None:
    with stack.client() as client:
        job = start_job(client, "held-bytes", {"size": 2 * MiB})
        assert finished(client, job.id)["status"] == "successful"
        key = orjson.loads(r.get(f"{stack.prefix}:job:{job.id}:result") or b"")["result"]["object"]
        url = f"{moto[0]}/{BUCKET}/jobs/{key}"
        assert httpx.head(url).status_code == 200
        assert client.delete(f"/jobs/{job.id}").status_code == 200
        assert httpx.head(url).status_code == 404


def test_a_store_that_is_down_fails_the_job_with_a_clear_message(
        procs: Processes, r: redis.Redis, key_prefix: str, tmp_path: Path) -> None:
    """A moto of its own, stopped once the worker has started: the job fails, saying the
    output could not be stored, rather than staying `running`."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _created(endpoint), 60, "moto to create the bucket")
        stack = procs.stack(r, key_prefix, FASTPROC_PROCESSES="tests.output_processes",
                            FASTPROC_INLINE_OUTPUT_BYTES="1000",
                            FASTPROC_OUTPUT_STORE=f"s3://{BUCKET}/down",
                            **s3_env(endpoint), **{"PATH": os.environ.get("PATH", "")})
    finally:
        server.terminate()
        server.wait(timeout=10)
    with stack.client() as client:
        job = start_job(client, "stream-bytes", {"size": 2 * MiB})
        status = wait_for(
            lambda: (s := client.get(f"/jobs/{job.id}").json())["status"] not in
            ("accepted", "running") and s, 120, "the job to fail")
        assert status["status"] == "failed"
        assert "output 'result' could not be stored" in status["message"], status


def _created(endpoint: str) -> bool:
    try:
        return httpx.put(f"{endpoint}/{BUCKET}", timeout=1).is_success
    except httpx.TransportError:
        return False
