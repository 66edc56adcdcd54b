"""A workflow job's page in a real browser (Debian's headless Chromium driven by Playwright):
the tree of its processes, each with its state, follows the job live."""
# ruff: noqa: F811  (the fixtures imported below are the tests' parameters)

from __future__ import annotations

import pytest
import redis
from playwright.sync_api import Locator, Page, expect

from tests.gated import Gates
from tests.own_stack import page  # noqa: F401 (fixture)
from tests.support import Processes, Stack, start_job
from tests.test_browser import browser  # noqa: F401 (fixture)

PROCESSES = "workers.examples,tests.flow_processes"


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, workers=1, FASTPROC_PROCESSES=PROCESSES)


def test_the_job_page_shows_the_tree_with_each_nodes_state_live(
        page: Page, stack: Stack, gates: Gates) -> None:
    held = {"process": "gated_number", "inputs": {"x": 2, "gate": gates.path}}
    quick = {"process": "number_stats", "inputs": {"numbers": [1, 3]},
             "outputs": {"mean": {}}}
    with stack.client() as client:
        job_id = start_job(client, "add", {"a": quick, "b": held}).id
    page.goto(f"/jobs/{job_id}?f=html")
    tree = page.locator("#workflow-tree")

    def state(process: str) -> Locator:
        return tree.locator("li li", has_text=process).locator(":scope > .status")

    expect(state("gated_number")).to_have_text("running")
    expect(state("number_stats")).to_have_text("successful")
    expect(tree.locator(":scope > li > .status")).to_have_text("waiting")
    gates.open_all()  # (the fixture opens them too, should an expectation fail)
    expect(tree.locator(".status")).to_have_text(["successful"] * 3)
    expect(page.locator("#workflow")).to_contain_text("2 of 2 nested processes done")
