"""The pages in a real browser: Debian's headless Chromium driven by Playwright, against the
session's real API and worker. A person's path: open a process, fill its form, run it, watch
the job page follow the job live, open the results. Nothing may be fetched from elsewhere.

Set FASTPROC_SCREENSHOTS to a folder (docs/screenshots) to keep the screenshots taken on the
way; they go to a temporary folder otherwise.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e import ASYNC, unique, unique_int, wait_finished
from tests.support import start_job

CHROMIUM = os.environ.get("FASTPROC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Milliseconds any one wait in the browser may take before the test fails.
WAIT_MS = 20_000
JOB_PAGE = re.compile(r".*/jobs/[0-9a-f]{32}\?f=html$")

#: Records every text the "parts done" cell shows, across the reload at the job's end.
RECORD_PARTS = """
document.addEventListener("DOMContentLoaded", () => {
  const cell = document.getElementById("job-parts");
  if (!cell) return;
  const record = () => {
    const seen = JSON.parse(sessionStorage.getItem("parts") || "[]");
    if (!cell.hidden && cell.textContent) seen.push(cell.textContent);
    sessionStorage.setItem("parts", JSON.stringify(seen));
  };
  record();
  new MutationObserver(record).observe(cell, {childList: true, characterData: true,
                                              subtree: true, attributes: true});
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                              timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("FASTPROC_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _page(browser: Browser, api_url: str, *, javascript: bool = True) -> Iterator[Page]:
    """A fresh page on the API; at its end, no request may have left the API and no
    script may have failed."""
    context = browser.new_context(base_url=api_url, viewport={"width": 1200, "height": 800},
                                  java_script_enabled=javascript)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    elsewhere: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(api_url)
            else elsewhere.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not elsewhere, f"the pages fetched from outside the API: {elsewhere}"
    assert not errors, f"scripts failed: {errors}"


@pytest.fixture
def page(browser: Browser, api_url: str) -> Iterator[Page]:
    yield from _page(browser, api_url)


@pytest.fixture
def page_without_js(browser: Browser, api_url: str) -> Iterator[Page]:
    yield from _page(browser, api_url, javascript=False)


def _progress_after(page: Page, previous: float) -> float:
    """The progress bar's value once it differs from `previous` (as the job reports)."""
    changed = page.wait_for_function(
        """previous => {
             const bar = document.getElementById("job-progress");
             return bar && bar.value !== previous ? {value: bar.value} : null;
           }""", arg=previous, timeout=WAIT_MS)
    value: float = changed.json_value()["value"]
    return value


def test_run_sleep_from_its_form_and_watch_the_job_to_its_results(
    page: Page, shots: Path,
) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("fastproc")
    page.screenshot(path=shots / "landing.png", full_page=True)

    page.get_by_role("link", name="Processes", exact=True).first.click()
    expect(page.locator("h1")).to_have_text("Processes")
    page.screenshot(path=shots / "processes.png", full_page=True)

    page.get_by_role("link", name="Sleep", exact=True).click()
    expect(page.locator("h1")).to_have_text("Sleep")
    page.fill("#input-seconds", "3")
    page.screenshot(path=shots / "process-form.png", full_page=True)
    page.click("#run")
    page.wait_for_url(JOB_PAGE)
    job_url = page.url.removesuffix("?f=html")

    seen = [float(page.locator("#job-progress").evaluate("bar => bar.value"))]
    seen.append(_progress_after(page, seen[-1]))
    seen.append(_progress_after(page, seen[-1]))
    assert seen == sorted(seen) and len(set(seen)) == 3, f"progress went {seen}"
    page.screenshot(path=shots / "job-running.png", full_page=True)

    expect(page.locator("#job-results")).to_be_visible()  # shown once the job has ended
    expect(page.locator("#job-status")).to_have_text("successful")
    assert page.locator("#job-progress").evaluate("bar => bar.value") == 100

    page.click("#job-results")
    page.wait_for_url(f"{job_url}/results")
    expect(page.locator("#output-slept pre")).to_have_text(re.compile(r"^3(\.0)?$"))

    page.goto("/jobs?processID=sleep")
    expect(page.locator(f"a[href='{job_url}']")).to_be_visible()


def test_the_job_list_filters_by_status(page: Page, client: httpx.Client, shots: Path) -> None:
    done = [start_job(client, pid, inputs, headers=ASYNC).location for pid, inputs in (
        ("echo", {"value": unique()}), ("add", {"a": unique_int(), "b": 2}),
        ("batch_upper", {"words": ["a", "b", "c"], "chunk": 1}), ("fail", {}))]
    for location in done:
        wait_finished(client, location)
    failed = done[-1]
    page.goto("/jobs?limit=10")
    for location in done:
        expect(page.locator(f"a[href='{location}']")).to_be_visible()
    page.screenshot(path=shots / "jobs.png", full_page=True)
    page.check("input[name=status][value=failed]")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*status=failed.*"))
    expect(page.locator(f"a[href='{failed}']")).to_be_visible()
    for location in done[:-1]:
        expect(page.locator(f"a[href='{location}']")).to_have_count(0)
    expect(page.locator("td .status")).to_have_text(["failed"] * page.locator("td .status").count())


def test_a_fan_out_job_page_shows_the_parts_done(page: Page) -> None:
    page.add_init_script(RECORD_PARTS)
    page.goto("/processes/slow_parts")
    page.fill("#input-n", "4")
    page.fill("#input-delay", "0.4")
    page.click("#run")
    page.wait_for_url(JOB_PAGE)
    expect(page.locator("#job-results")).to_be_visible()
    expect(page.locator("#job-status")).to_have_text("successful")
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('parts') || '[]')")
    assert any(re.fullmatch(r"[1-4] of 4", text) for text in seen), seen


def test_the_form_and_the_job_page_work_without_javascript(page_without_js: Page) -> None:
    page = page_without_js
    page.goto("/processes/text_stats")
    page.fill("#input-text", "the quick brown fox jumps over the lazy dog the end")
    page.click("#run")
    page.wait_for_url(JOB_PAGE)
    expect(page.locator("#job-status")).to_have_text("successful")  # the page refreshes
    page.click("#job-results")
    expect(page.locator("#output-word_count pre")).to_have_text("11")


def test_a_draft_is_saved_started_run_again_and_edited_without_javascript(
    page_without_js: Page,
) -> None:
    """Part 4 from the pages alone: save the form as a draft, start it from its page, run
    it again, and open the form filled with its inputs."""
    page = page_without_js
    page.goto("/processes/add")
    page.fill("#input-a", "40")
    page.fill("#input-b", "2")
    page.click("#save-draft")
    page.wait_for_url(JOB_PAGE)
    expect(page.locator("#job-status")).to_have_text("created")
    expect(page.locator("#job-inputs")).to_contain_text("40")
    draft = page.url
    page.click("#job-start")
    page.wait_for_url(draft)
    expect(page.locator("#job-status")).to_have_text("successful")  # the page refreshes
    page.click("#job-rerun")
    page.wait_for_url(JOB_PAGE)
    assert page.url != draft
    expect(page.locator("#job-status")).to_have_text("successful")
    page.click("#job-edit")
    expect(page.locator("#input-a")).to_have_value("40")
    expect(page.locator("#input-b")).to_have_value("2")
    expect(page.locator("#from-job")).to_be_visible()


def test_api_docs_show_every_endpoint_from_packaged_assets(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="the API documentation").first.click()
    page.wait_for_url("**/api.html")
    expect(page.locator(".opblock").first).to_be_visible()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    shown = {re.sub(r"\s+", "", text) for text in paths}
    for path in ("/", "/conformance", "/processes", "/processes/{process_id}",
                 "/processes/{process_id}/execution", "/jobs", "/jobs/{job_id}",
                 "/jobs/{job_id}/results"):
        assert path in shown, f"{path} not in the API docs: {sorted(shown)}"
    models = page.locator(".models .model-container").all_inner_texts()
    for model in ("ProcessDescription", "StatusInfo", "JobList", "LandingPage"):
        assert any(model in text for text in models), f"{model} not among {models}"
