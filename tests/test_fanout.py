"""Fan-out through the real stack: results equal the sequential computation, in order."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.gated import Gates, part_gate
from tests.ogc import validate
from tests.support import job_status, start_job, wait_for, wait_job

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
    job_id = start_job(client, "text_stats", {"text": text}, response="document").id
    assert wait_job(client, job_id)["status"] == "successful"
    assert client.get(f"/jobs/{job_id}/results").json() == expected


def test_ported_fastprocesses_batch_upper_runs_unchanged(client: httpx.Client) -> None:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"]
    job_id = start_job(client, "batch_upper_process", {"words": words},
                       outputs={"words": {}}, mode="async", response="document").id
    assert wait_job(client, job_id)["status"] == "successful"
    assert client.get(f"/jobs/{job_id}/results").json() == {"words": [w.upper() for w in words]}


def test_ported_fastprocesses_text_analysis_runs_unchanged(client: httpx.Client) -> None:
    text = "the quick brown fox jumps over the lazy dog"
    job_id = start_job(client, "text_analysis_process", {"text": text},
                       outputs={"word_count": {}, "char_count": {}, "unique_words": {}},
                       mode="async", response="document").id
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
    job_id = start_job(client, "slow_parts", {"n": 6, "fail_on": 3}, response="document").id
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
    job_id = start_job(client, process_id, {}).id
    status = wait_job(client, job_id)
    assert status["status"] == "failed"
    assert where in status["message"] and "cannot" in status["message"]
    assert _join_keys(r, key_prefix, job_id) == []


def test_progress_counts_parts_done_live(client: httpx.Client, tmp_path: Path) -> None:
    """Each part waits at its gate until the stream has shown the part before it done, so
    every count reaches the subscriber, whatever the machine's load."""
    parts = 5
    gates = Gates(tmp_path / "gates")
    job_id = start_job(client, "gated_parts", {"n": parts, "gate": gates.path}).id
    updates = []
    opened = 0
    try:
        with client.stream("GET", f"/jobs/{job_id}/events", timeout=60) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                update = orjson.loads(line[5:])
                updates.append(update)
                # The first message means the stream is subscribed; after it, each part done.
                if opened < parts and (opened == 0 or update.get("message") ==
                                       f"{opened} of {parts} parts done"):
                    gates.open(part_gate(opened))
                    opened += 1
    finally:
        gates.open_all()
    running = [u for u in updates if u["status"] == "running" and "parts done" in
               u.get("message", "")]
    assert [u["message"] for u in running] == [f"{done} of {parts} parts done"
                                               for done in range(1, parts + 1)], updates
    assert [u["progress"] for u in running] == [done * 100 // parts
                                                for done in range(1, parts + 1)]
    # The count is data too, in statusInfo's extension member, never parsed from the text.
    assert [u["x-fastproc-parts"] for u in running] == [
        {"done": done, "total": parts} for done in range(1, parts + 1)], updates
    for update in updates:
        validate(update, "statusInfo")
    assert updates[-1]["status"] == "successful"
    final = job_status(client, job_id)
    assert validate(final, "statusInfo")["x-fastproc-parts"] == {"done": parts, "total": parts}
    assert client.get(f"/jobs/{job_id}/results").json() == list(range(parts))


def test_dismissed_fanout_never_merges_and_leaves_no_join_keys(
    client: httpx.Client, r: redis.Redis, key_prefix: str, tmp_path: Path
) -> None:
    parts = 6
    gates = Gates(tmp_path / "gates")
    job_id = start_job(client, "gated_parts", {"n": parts, "gate": gates.path}).id
    try:
        # A part waiting at its closed gate: the job is running and cannot end before the
        # DELETE, however slow the machine is.
        wait_for(lambda: any(gates.reached(part_gate(i)) for i in range(parts)), 60,
                 "a part of the job to start")
        assert job_status(client, job_id)["status"] == "running"
        dismissed = client.delete(f"/jobs/{job_id}")
        assert dismissed.status_code == 200, dismissed.text
        assert dismissed.json()["status"] == "dismissed"
    finally:
        # Parts the abort has not cancelled (or not yet started) go on and finish now: each
        # must find the job dismissed instead of storing its result or merging.
        gates.open_all()
    wait_for(lambda: not list(r.scan_iter(match=f"arq:job:{job_id}:*")), 60,
             "the job's part tasks to drain")
    assert job_status(client, job_id)["status"] == "dismissed"
    assert _join_keys(r, key_prefix, job_id) == []
    assert r.exists(f"{key_prefix}:job:{job_id}:result") == 0
