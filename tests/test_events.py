"""`GET /jobs/{id}/events`: Server-Sent Events of a job's status and progress."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.gated import Gates, step_gate, step_message
from tests.support import start_job, wait_for, wait_job


def _events(client: httpx.Client, job_id: str,
            seen: Callable[[dict[str, Any]], None] | None = None,
            ) -> tuple[list[dict[str, Any]], list[str]]:
    """Every status message of the stream (and the raw lines), until the server ends it;
    `seen` is called with each message as it arrives."""
    updates: list[dict[str, Any]] = []
    lines: list[str] = []
    with client.stream("GET", f"/jobs/{job_id}/events", timeout=60) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            lines.append(line)
            if line.startswith("data:"):
                updates.append(orjson.loads(line[5:]))
                if seen is not None:
                    seen(updates[-1])
    return updates, lines


def test_a_late_subscriber_gets_the_current_state_and_the_stream_ends(
    client: httpx.Client
) -> None:
    job_id = start_job(client, "add", {"a": 1, "b": 41}).id
    assert wait_job(client, job_id)["status"] == "successful"
    updates, lines = _events(client, job_id)
    assert [u["status"] for u in updates] == ["successful"]
    assert updates[0]["jobID"] == job_id and updates[0]["progress"] == 100
    assert "event: status" in lines and "id: 1" in lines


def test_every_progress_report_of_a_job_arrives_in_order(client: httpx.Client,
                                                         tmp_path: Path) -> None:
    """The job waits after each report until the stream has shown it: every report must
    arrive, however late the subscriber connects or slow the machine is."""
    steps = 5
    gates = Gates(tmp_path / "gates")
    job_id = start_job(client, "stepwise", {"gate": gates.path, "steps": steps}).id
    try:
        updates, _ = _events(client, job_id,
                             lambda update: gates.pass_step(update.get("message"), steps))
    finally:
        gates.open_all()
    statuses = [u["status"] for u in updates]
    assert statuses[-1] == "successful" and statuses.count("successful") == 1
    assert set(statuses[:-1]) <= {"accepted", "running"}
    reports = [u for u in updates if u["status"] == "running" and
               u.get("message", "").startswith("step ")]
    assert list(dict.fromkeys(u["message"] for u in reports)) == [
        step_message(step, steps) for step in range(1, steps + 1)], updates
    progress = [u["progress"] for u in reports]
    assert progress == sorted(progress)
    assert set(progress) == {step * 100 // steps for step in range(steps)}
    assert updates[-1]["progress"] == 100
    updated = [u["updated"] for u in updates]
    assert updated == sorted(updated)


def test_the_stream_ends_when_the_job_is_dismissed(client: httpx.Client,
                                                   tmp_path: Path) -> None:
    gates = Gates(tmp_path / "gates")
    job_id = start_job(client, "stepwise", {"gate": gates.path, "steps": 1}).id
    try:
        wait_for(lambda: gates.reached(step_gate(1)), 60, "the job to wait at its gate")
        first = threading.Event()
        seen: list[list[dict[str, Any]]] = []
        reader = threading.Thread(
            target=lambda: seen.append(_events(client, job_id, lambda _: first.set())[0]))
        reader.start()
        assert first.wait(30), "the stream should start with the current state"
        assert client.delete(f"/jobs/{job_id}").status_code == 200
        reader.join(timeout=30)
    finally:
        gates.open_all()
    assert not reader.is_alive(), "the stream should end on dismissal"
    assert seen[0][0]["status"] == "running", seen
    assert seen[0][-1]["status"] == "dismissed"


def test_events_of_an_unknown_job_are_404(client: httpx.Client) -> None:
    response = client.get("/jobs/not-a-job/events")
    assert response.status_code == 404
    assert response.json()["type"].endswith("/no-such-job")
