"""Fan-out through the real stack: results equal the sequential computation, in order."""

from __future__ import annotations

import httpx
import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import submit_async, wait_for, wait_job

NO_CACHE = {"Cache-Control": "no-cache"}


def _batch_upper(client: httpx.Client, words: list[str], chunk: int | None = None) -> list[str]:
    inputs: dict[str, object] = {"words": words}
    if chunk is not None:
        inputs["chunk"] = chunk
    response = client.post("/processes/batch_upper/execution", headers=NO_CACHE,
                           json={"inputs": inputs, "response": "document"})
    assert response.status_code == 200, response.text
    result: list[str] = response.json()["words"]
    return result


@pytest.mark.parametrize("count", [0, 1, 7, 1000])
def test_batch_upper_equals_sequential_for_one_part_per_word(
    client: httpx.Client, count: int
) -> None:
    words = [f"w{i}x" for i in range(count)]
    assert _batch_upper(client, words, chunk=1) == [w.upper() for w in words]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.text(alphabet="abcdefXYZ ", max_size=6), max_size=40),
       chunk=st.integers(min_value=1, max_value=12))
def test_split_and_merge_keep_the_order(client: httpx.Client, words: list[str],
                                        chunk: int) -> None:
    assert _batch_upper(client, words, chunk) == [w.upper() for w in words]


def test_text_stats_sync_and_async_agree(client: httpx.Client) -> None:
    text = "The quick brown fox jumps over the lazy dog the end"
    sync = client.post("/processes/text_stats/execution", headers=NO_CACHE,
                       json={"inputs": {"text": text}, "response": "document"})
    assert sync.status_code == 200, sync.text
    expected = {"word_count": 11, "char_count": len(text),
                "unique_words": sorted(set(text.lower().split()))}
    assert sync.json() == expected
    job_id = submit_async(client, "text_stats", {"text": text}, response="document")
    assert wait_job(client, job_id)["status"] == "successful"
    assert client.get(f"/jobs/{job_id}/results").json() == expected


def test_ported_fastprocesses_batch_upper_runs_unchanged(client: httpx.Client) -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"]
    job_id = submit_async(client, "batch_upper_process", {"words": words},
                          outputs={"words": {}}, mode="async", response="document")
    assert wait_job(client, job_id)["status"] == "successful"
    assert client.get(f"/jobs/{job_id}/results").json() == {"words": [w.upper() for w in words]}


def test_ported_fastprocesses_text_analysis_runs_unchanged(client: httpx.Client) -> None:
    text = "the quick brown fox jumps over the lazy dog"
    job_id = submit_async(client, "text_analysis_process", {"text": text},
                          outputs={"word_count": {}, "char_count": {}, "unique_words": {}},
                          mode="async", response="document")
    assert wait_job(client, job_id)["status"] == "successful"
    assert client.get(f"/jobs/{job_id}/results").json() == {
        "word_count": 9, "char_count": 43,
        "unique_words": sorted(set(text.split())),
    }


def _join_keys(r: redis.Redis, prefix: str, job_id: str) -> list[bytes]:
    return list(r.scan_iter(match=f"{prefix}:join:{job_id}*"))


def test_failing_part_fails_the_job_and_never_merges(
    client: httpx.Client, r: redis.Redis, key_prefix: str
) -> None:
    job_id = submit_async(client, "slow_parts", {"n": 6, "fail_on": 3}, response="document")
    status = wait_job(client, job_id)
    assert status["status"] == "failed"
    assert "part 3" in status["message"] and "told to fail" in status["message"]
    results = client.get(f"/jobs/{job_id}/results")
    assert results.status_code >= 400
    assert "part 3" in results.json()["detail"]
    assert _join_keys(r, key_prefix, job_id) == []


@pytest.mark.parametrize("process_id,where", [("broken_split", "split"),
                                              ("broken_merge", "merge")])
def test_exception_in_split_or_merge_fails_the_job(
    client: httpx.Client, r: redis.Redis, key_prefix: str, process_id: str, where: str
) -> None:
    job_id = submit_async(client, process_id, {})
    status = wait_job(client, job_id)
    assert status["status"] == "failed"
    assert where in status["message"] and "cannot" in status["message"]
    assert _join_keys(r, key_prefix, job_id) == []


def test_progress_counts_parts_done_live(client: httpx.Client) -> None:
    job_id = submit_async(client, "slow_parts", {"n": 20, "delay": 0.15})
    updates = []
    with client.stream("GET", f"/jobs/{job_id}/events", timeout=30) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                updates.append(orjson.loads(line[5:]))
    running = [u for u in updates if u["status"] == "running" and "parts done" in
               u.get("message", "")]
    assert [u["message"] for u in running][-1] == "20 of 20 parts done"
    progress = [u["progress"] for u in running]
    assert progress == sorted(progress) and any(0 < p < 100 for p in progress)
    assert updates[-1]["status"] == "successful"


def test_dismissed_fanout_never_merges_and_leaves_no_join_keys(
    client: httpx.Client, r: redis.Redis, key_prefix: str
) -> None:
    job_id = submit_async(client, "slow_parts", {"n": 40, "delay": 0.3})
    wait_job(client, job_id, until=lambda s: s.get("progress", 0) > 0)
    dismissed = client.delete(f"/jobs/{job_id}")
    assert dismissed.status_code == 200
    assert dismissed.json()["status"] == "dismissed"
    # Every part that was running has been aborted or has found the job dismissed once no
    # part task of this job is left in arq; then the record must still say dismissed.
    wait_for(lambda: not list(r.scan_iter(match=f"arq:job:{job_id}:*")), 20,
             "the job's part tasks to drain")
    assert client.get(f"/jobs/{job_id}").json()["status"] == "dismissed"
    assert _join_keys(r, key_prefix, job_id) == []
    assert r.exists(f"{key_prefix}:job:{job_id}:result") == 0
