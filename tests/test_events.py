"""`GET /jobs/{id}/events`: Server-Sent Events of a job's status and progress."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import orjson

from tests.support import submit_async, wait_for, wait_job


def _events(client: httpx.Client, job_id: str,
            first: threading.Event | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Every status message of the stream (and the raw lines), until the server ends it."""
    updates: list[dict[str, Any]] = []
    lines: list[str] = []
    with client.stream("GET", f"/jobs/{job_id}/events", timeout=30) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                updates.append(orjson.loads(line[5:]))
                if first is not None:
                    first.set()
    return updates, lines


def test_a_late_subscriber_gets_the_current_state_and_the_stream_ends(
    client: httpx.Client
) -> None:
    job_id = submit_async(client, "add", {"a": 1, "b": 41})
    assert wait_job(client, job_id)["status"] == "successful"
    updates, lines = _events(client, job_id)
    assert [u["status"] for u in updates] == ["successful"]
    assert updates[0]["jobID"] == job_id and updates[0]["progress"] == 100
    assert "event: status" in lines and "id: 1" in lines


def test_every_progress_report_of_a_job_arrives_in_order(client: httpx.Client) -> None:
    job_id = submit_async(client, "sleep", {"seconds": 1.0})
    updates, _ = _events(client, job_id)
    statuses = [u["status"] for u in updates]
    assert statuses[-1] == "successful" and statuses.count("successful") == 1
    assert set(statuses[:-1]) <= {"accepted", "running"}
    progress = [u["progress"] for u in updates if u["status"] == "running" and "progress" in u]
    assert progress == sorted(progress)
    assert len(set(progress)) >= 5, progress  # the process reports ten times
    updated = [u["updated"] for u in updates]
    assert updated == sorted(updated)


def test_the_stream_ends_when_the_job_is_dismissed(client: httpx.Client) -> None:
    job_id = submit_async(client, "sleep", {"seconds": 20})
    wait_job(client, job_id, until=lambda s: s["status"] == "running")
    first = threading.Event()
    seen: list[list[dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: seen.append(_events(client, job_id, first)[0]))
    reader.start()
    assert first.wait(10), "the stream should start with the current state"
    assert client.delete(f"/jobs/{job_id}").status_code == 200
    reader.join(timeout=15)
    assert not reader.is_alive(), "the stream should end on dismissal"
    wait_for(lambda: seen, 1, "the reader's result")
    assert seen[0][-1]["status"] == "dismissed"


def test_events_of_an_unknown_job_are_404(client: httpx.Client) -> None:
    response = client.get("/jobs/not-a-job/events")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/no-such-job")
