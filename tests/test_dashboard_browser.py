"""The dashboard and the job page's log in Debian's headless Chromium (driven as in
tests/test_browser.py), against a stack of their own: the dashboard's figures change as
jobs run, without reloading; a failing job appears in its failures list with its message
and leads to the job's traceback; the job page shows log lines while the job runs.

With FASTPROC_SCREENSHOTS set (docs/screenshots), the pages are kept as the README's pictures.
"""
# ruff: noqa: F811  (the fixtures imported below are the tests' parameters)

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis
from playwright.sync_api import Page, expect

from tests.gated import Gates
from tests.own_stack import client, page  # noqa: F401 (fixtures)
from tests.support import Processes, Stack, start_job, wait_for, wait_job
from tests.test_browser import browser, shots  # noqa: F401 (fixtures)

PROCESSES = "workers.examples,tests.logging_processes,tests.gated"


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES=PROCESSES,
                       FASTPROC_DASHBOARD_INTERVAL="0.5")


def _number(page: Page, selector: str) -> int:
    return int(page.locator(selector).inner_text())


def test_the_dashboards_figures_change_as_jobs_run(page: Page, client: httpx.Client,
                                                    gates: Gates, shots: Path) -> None:
    page.goto("/dashboard")
    expect(page.locator("h1")).to_have_text("Dashboard")
    expect(page.locator("#now-running")).to_have_text("0")
    page.evaluate("window.notReloaded = true")
    successful = _number(page, "#now-successful")

    job = start_job(client, "chatty", {"gate": gates.path, "lines": 1})
    expect(page.locator("#now-running")).to_have_text("1")
    expect(page.locator("tr[data-process=chatty] td.running")).to_have_text("1")
    for value in ("a", "b", "c"):
        wait_job(client, start_job(client, "echo", {"value": value}).id)
    wait_job(client, start_job(client, "batch_upper", {"words": ["x", "y"], "chunk": 1}).id)
    gates.open("go")
    wait_job(client, job.id)
    expect(page.locator("#now-running")).to_have_text("0")
    expect(page.locator("#now-successful")).to_have_text(str(successful + 5))
    expect(page.locator("tr[data-process=chatty] td.jobs")).to_have_text("1")
    expect(page.locator("#dash-workers tbody tr")).to_have_count(1)
    assert page.evaluate("window.notReloaded") is True  # the figures came over the stream
    failed = start_job(client, "fails_deep", {"text": "1/0"})
    wait_job(client, failed.id)
    expect(page.locator("#dash-failures")).to_contain_text(failed.id[:12])
    worker = page.locator("#dash-workers tbody tr")  # as its next heartbeat reports
    expect(worker.locator("td.done")).to_have_text("5")
    expect(worker.locator("td.failed")).to_have_text("1")
    page.screenshot(path=shots / "dashboard.png", full_page=True)


def test_a_failing_job_appears_in_the_failures_list_with_its_message(
        page: Page, client: httpx.Client, shots: Path) -> None:
    page.goto("/dashboard")
    expect(page.locator("#dash-failures")).to_be_visible()
    job = start_job(client, "fails_deep", {"text": "7/0"})
    assert wait_job(client, job.id)["status"] == "failed"
    row = page.locator("#dash-failures tbody tr").first
    expect(row).to_contain_text(job.id[:12])
    expect(row.locator("td.message")).to_have_text(
        "process 'fails_deep' failed: ZeroDivisionError: division by zero")
    expect(row).to_contain_text("fails_deep")

    row.get_by_role("link").click()
    page.wait_for_url(f"**/jobs/{job.id}")
    expect(page.locator("#job-status")).to_have_text("failed")
    traceback = page.locator("#job-traceback pre")
    expect(traceback).to_contain_text("in _parse_ratio")
    expect(traceback).not_to_contain_text("fastproc/")
    expect(page.locator("#job-log")).to_contain_text("parsing 7/0")
    expect(page.locator("#job-timeline svg")).to_be_visible()
    page.screenshot(path=shots / "job-failed-logs.png", full_page=True)


def test_the_job_page_shows_log_lines_while_the_job_runs(
        page: Page, client: httpx.Client, gates: Gates) -> None:
    job = start_job(client, "log_steps", {"gate": gates.path, "steps": 3})
    wait_for(lambda: gates.reached("step-1"), 60, "step 1")
    page.goto(f"/jobs/{job.id}")
    log = page.locator("#job-log")
    expect(log).to_contain_text("step 1 of 3")
    expect(page.locator("#job-status")).to_have_text("running")
    gates.open("step-1")
    expect(log).to_contain_text("step 2 of 3")  # followed while the job runs
    expect(page.locator("#job-status")).to_have_text("running")
    assert client.get(f"/jobs/{job.id}").json()["status"] == "running"
    expect(log.locator(".log-line")).to_have_count(2)
    gates.open_all()
    expect(page.locator("#job-status")).to_have_text("successful")
    expect(page.locator("#job-log .log-line")).to_have_count(3)
    expect(page.locator("#job-timeline")).to_contain_text("ran")
