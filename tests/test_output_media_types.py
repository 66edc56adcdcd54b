"""An output's media type goes into the Content-Type of every answer that carries it: one a
process returns (or declares) that is not a media type fails its job with a message saying
so, and a well-formed one is sent as it is. Real worker and Valkey."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.media_type_processes import CRLF_MEDIA_TYPE
from tests.support import Processes, Stack, submit_async, wait_job

NOT_MEDIA_TYPES = [CRLF_MEDIA_TYPE, "text/plain\n", "text/plain\r", "text/csv; a=\"b\r\nc\"",
                   "text/pl\x00ain", "plain", "text/ plain", ""]


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES="tests.media_type_processes")


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as opened:
        yield opened


def _failed_for_its_media_type(client: httpx.Client, job_id: str, media_type: str) -> None:
    ended = wait_job(client, job_id)
    assert ended["status"] == "failed", ended
    assert "output 'data'" in ended["message"] and "not a media type" in ended["message"]
    assert repr(media_type) in ended["message"], ended["message"]
    # Its results answer: the job's failure, as an OGC exception.
    results = client.get(f"/jobs/{job_id}/results")
    assert results.status_code >= 400 and results.json()["type"].startswith("http")


@pytest.mark.parametrize("media_type", NOT_MEDIA_TYPES)
def test_an_output_returned_in_what_is_not_a_media_type_fails_its_job(
    client: httpx.Client, media_type: str
) -> None:
    job_id = submit_async(client, "binary_in", {"media_type": media_type})
    _failed_for_its_media_type(client, job_id, media_type)


def test_an_output_declared_in_what_is_not_a_media_type_fails_its_job(
    client: httpx.Client
) -> None:
    job_id = submit_async(client, "declared_crlf", {})
    _failed_for_its_media_type(client, job_id, CRLF_MEDIA_TYPE)


def test_a_media_type_with_parameters_is_sent_as_returned(client: httpx.Client) -> None:
    media_type = 'text/csv; charset="utf-8"; header=present'
    job_id = submit_async(client, "binary_in", {"media_type": media_type})
    assert wait_job(client, job_id)["status"] == "successful"
    raw = client.get(f"/jobs/{job_id}/results/data")
    assert raw.status_code == 200 and raw.content == b"a,b\n1,2\n"
    assert raw.headers["content-type"] == media_type
