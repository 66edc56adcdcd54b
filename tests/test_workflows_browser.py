"""A workflow job's page in a real browser (Debian's headless Chromium driven by Playwright):
the tree of its processes, each with its state, follows the job live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.gated import Gates
from tests.support import Processes, Stack, start_job
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, WAIT_MS

PROCESSES = "workers.examples,tests.flow_processes"


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, workers=1, FASTPROC_PROCESSES=PROCESSES)


@pytest.fixture
def page(stack: Stack) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                      args=CHROMIUM_ARGS, timeout=60_000)
        context = browser.new_context(base_url=stack.url)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
        assert not errors, f"scripts failed: {errors}"


def test_the_job_page_shows_the_tree_with_each_nodes_state_live(
        page: Page, stack: Stack, tmp_path: Path) -> None:
    gates = Gates(tmp_path / "gates")
    held = {"process": "gated_number", "inputs": {"x": 2, "gate": gates.path}}
    quick = {"process": "number_stats", "inputs": {"numbers": [1, 3]},
             "outputs": {"mean": {}}}
    with stack.client() as client:
        job_id = start_job(client, "add", {"a": quick, "b": held}).id
    page.goto(f"/jobs/{job_id}?f=html")
    tree = page.locator("#workflow-tree")

    def state(process: str) -> Locator:
        return tree.locator("li li", has_text=process).locator(":scope > .status")

    try:
        expect(state("gated_number")).to_have_text("running")
        expect(state("number_stats")).to_have_text("successful")
        expect(tree.locator(":scope > li > .status")).to_have_text("waiting")
    finally:
        gates.open_all()
    expect(tree.locator(".status")).to_have_text(["successful"] * 3)
    expect(page.locator("#workflow")).to_contain_text("2 of 2 nested processes done")
