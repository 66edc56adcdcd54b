"""What the job page and the other views of a job show of its progress and timing: one
percentage everywhere (the JSON status, the page, the command line), and labels that can
be read however narrow a phase is."""

from __future__ import annotations

import re

import httpx

from fastproc.api.insights.charts import Phase, timeline_chart
from fastproc.api.views import shown_progress
from fastproc.client.progress_view import _message
from fastproc.ogc.models import StatusCode, StatusInfo
from fastproc.store.record import PARTS_MEMBER, JobRecord, PartsDone
from tests.support import start_job, wait_for, wait_job


def test_a_running_fan_out_shows_the_share_of_its_parts_done(client: httpx.Client) -> None:
    # More parts than a worker runs at once: they end in waves, some done, some not.
    job = start_job(client, "slow_parts", {"n": 200, "delay": 0.3}, response="document")

    def some_parts_done() -> dict[str, object] | None:
        status: dict[str, object] = client.get(f"/jobs/{job.id}").json()
        parts = status.get(PARTS_MEMBER)
        running = status["status"] == "running" and isinstance(parts, dict)
        return status if running and 0 < parts["done"] < 200 else None  # type: ignore[index]

    status = wait_for(some_parts_done, 30, "some of 200 parts done")
    parts = status[PARTS_MEMBER]
    assert status["progress"] == parts["done"] * 100 // parts["total"], status
    page = client.get(f"/jobs/{job.id}", params={"f": "html"}).text
    shown = re.search(r'<span id="job-percent">(\d+) %</span>', page)
    assert shown is not None and int(shown[1]) >= status["progress"], page
    assert wait_job(client, job.id)["progress"] == 100


def test_the_parts_share_stays_below_100_until_the_merge_and_yields_to_a_report() -> None:
    record = JobRecord("j", "p", StatusCode.RUNNING, parts=PartsDone(20, 20))
    assert shown_progress(record) == 99
    record.parts = PartsDone(5, 20)
    assert shown_progress(record) == 25
    record.progress = 40
    assert shown_progress(record) == 40
    assert shown_progress(JobRecord("j", "p", StatusCode.RUNNING)) is None
    failed = JobRecord("j", "p", StatusCode.FAILED, parts=PartsDone(5, 20))
    assert shown_progress(failed) is None


def test_timeline_labels_never_share_a_row() -> None:
    """A queue of 2 ms beside parts of 37 ms: each label has a row of its own."""
    svg = str(timeline_chart([Phase("queued", 0.0, 0.002, "wait"),
                              Phase("parts", 0.002, 0.039, "ok"),
                              Phase("merge", 0.039, 0.040, "merge")]))
    rows = re.findall(r'<text class="tick" x="[\d.]+" y="(\d+)"', svg)
    assert len(rows) == 3 and len(set(rows)) == 3, svg
    height = int(re.search(r'viewBox="0 0 \d+ (\d+)"', svg)[1])  # type: ignore[index]
    assert max(int(y) for y in rows) < height, svg
    assert "queued 2 ms" in svg and "parts 37 ms" in svg


def test_the_command_line_says_what_a_workflows_percentage_counts() -> None:
    def running(done: int) -> str:
        return _message(StatusInfo.model_validate({
            "jobID": "j", "processID": "add", "status": "running", "progress": 66,
            "message": f"{done} of 2 nested processes done",
            "x-fastproc-nodes": {"done": done, "total": 2}}))

    assert running(2) == "2 of 2 nested processes done, add running"
    assert running(1) == "1 of 2 nested processes done, then add"


def test_a_workflows_page_says_its_own_process_counts_in_its_progress(
    client: httpx.Client,
) -> None:
    nested = {"process": "add", "inputs": {"a": 1, "b": 2}}
    job = start_job(client, "add", {"a": nested, "b": 3}, response="document")
    assert wait_job(client, job.id)["status"] == "successful"
    page = client.get(f"/jobs/{job.id}", params={"f": "html"}).text
    text = re.sub(r"<[^>]+>", "", page[page.index('id="workflow"'):])
    assert "1 of 1 nested processes done, then add itself: the progress counts all 2" in text
