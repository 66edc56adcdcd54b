"""Output previews on the results page, in Debian's headless Chromium (as tests/test_browser.py
drives it): a PNG is drawn, a CSV is a table of its first rows, GeoJSON is a feature table with
its bounding box, JSON is a tree that folds, and hostile outputs run no script, neither on the
page nor opened raw. The stack stores outputs over 100,000 bytes apart, so a large CSV is
previewed from its first bytes.

With FASTPROC_SCREENSHOTS set (docs/screenshots), the pages are kept as the README's pictures.
"""
# ruff: noqa: F811  (the fixtures imported below are the tests' parameters)

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Locator, Page, expect

from fastproc.api.html.previews import PREVIEW_BYTES
from tests.own_stack import client, page  # noqa: F401 (fixtures)
from tests.preview_processes import HOSTILE
from tests.support import Processes, Stack, start_job, wait_job
from tests.test_browser import browser, shots  # noqa: F401 (fixtures)

INLINE_OUTPUT_BYTES = 100_000


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES="workers.examples,"
                       "tests.preview_processes",
                       FASTPROC_INLINE_OUTPUT_BYTES=str(INLINE_OUTPUT_BYTES))


def results_of(client: httpx.Client, process_id: str, inputs: dict[str, Any]) -> str:
    """The results page's URL of a successful job of this process."""
    job = start_job(client, process_id, inputs)
    status = wait_job(client, job.id)
    assert status["status"] == "successful", status.get("message")
    return f"{job.location}/results"


def drawn_size(page: Page, image: Locator) -> list[int]:
    """Width and height of an image once the browser has loaded and decoded it."""
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=image.element_handle())
    size: list[int] = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    return size


def cells(page: Page, output: str, row: int) -> list[str]:
    return page.locator(f"#output-{output} tbody tr").nth(row).locator("td").all_inner_texts()


def test_a_png_output_is_drawn_on_the_page(page: Page, client: httpx.Client,
                                           shots: Path) -> None:
    page.goto(results_of(client, "solid_png", {"width": 96, "height": 48, "color": "#ff8800"}))
    assert drawn_size(page, page.locator("#output-image img")) == [96, 48]
    page.screenshot(path=shots / "results-png.png", full_page=True)


def test_a_csv_output_is_a_table_of_its_rows(page: Page, client: httpx.Client,
                                             shots: Path) -> None:
    page.goto(results_of(client, "squares_csv", {"n": 12}))
    headers = page.locator("#output-table thead th").all_inner_texts()
    assert headers == ["n", "square"]
    expect(page.locator("#output-table tbody tr")).to_have_count(12)
    assert cells(page, "table", 11) == ["11", "121"]
    expect(page.locator("#output-table .note")).to_have_count(0)
    page.screenshot(path=shots / "results-csv.png", full_page=True)


def test_a_large_csv_stored_apart_shows_its_first_hundred_rows(page: Page,
                                                               client: httpx.Client) -> None:
    rows = 20_000
    size = len("n,square\n") + sum(len(f"{i},{i * i}\n") for i in range(rows))
    assert size > INLINE_OUTPUT_BYTES
    page.goto(results_of(client, "squares_csv", {"n": rows}))
    expect(page.locator("#output-table tbody tr")).to_have_count(100)
    assert cells(page, "table", 99) == ["99", "9801"]
    expect(page.locator("#output-table .note")).to_have_text(
        f"showing the first 100 rows, read from the first {PREVIEW_BYTES:,} of {size:,} "
        "bytes: the raw output has all of it.")


def test_a_geojson_output_is_a_feature_table_with_its_bounding_box(
    page: Page, client: httpx.Client, shots: Path,
) -> None:
    page.goto(results_of(client, "points_geojson", {"n": 12}))
    table = page.locator("#output-points table")
    assert table.locator("thead th").all_inner_texts() == ["geometry", "index", "distance"]
    expect(table.locator("tbody tr")).to_have_count(12)
    assert cells(page, "points", 10) == ["Point", "10", "1.0"]
    bbox = page.locator("#output-points .bbox")
    expect(bbox).to_contain_text("12 features · bounding box [")
    numbers = re.search(r"\[([^\]]+)\]", bbox.inner_text())
    assert numbers is not None
    west, south, east, north = (float(n) for n in numbers.group(1).split(","))
    assert west < 0 < east and south < 0 < north
    page.screenshot(path=shots / "results-geojson.png", full_page=True)


def test_json_folds_and_text_svg_and_bytes_have_their_previews(
    page: Page, client: httpx.Client, shots: Path,
) -> None:
    page.goto(results_of(client, "preview_gallery", {}))
    tree = page.locator("#output-summary .json-tree > details")
    expect(tree).to_have_attribute("open", "")
    expect(tree.locator("> summary")).to_have_text("{5 keys")
    expect(tree).to_contain_text('"licence": null')
    expect(page.locator("#output-log pre")).to_contain_text("tile 3 of 3 done")
    assert drawn_size(page, page.locator("#output-chart img")) == [240, 90]
    download = page.locator("#output-archive a.download")
    expect(download).to_have_attribute("download", "archive")
    expect(page.locator("#output-archive .preview")).to_contain_text(
        "10.2 kB · application/octet-stream")
    page.screenshot(path=shots / "results-more.png", full_page=True)

    sources = tree.locator("> details").filter(has_text='"source"')
    expect(sources.locator('.jv:has-text("\\"year\\": 2024")')).to_be_visible()
    sources.locator("> summary").click()
    expect(sources).not_to_have_attribute("open", "")
    expect(sources.locator('.jv:has-text("\\"year\\": 2024")')).to_be_hidden()


def test_hostile_outputs_run_no_script_on_the_page_or_opened_raw(
    page: Page, client: httpx.Client,
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    results = results_of(client, "hostile_outputs", {})
    page.goto(results)
    expect(page.locator("#output-notes pre")).to_have_text(HOSTILE)
    expect(page.locator("#output-table td").first).to_have_text(HOSTILE)
    expect(page.locator("#output-places th").nth(2)).to_have_text(HOSTILE)
    assert drawn_size(page, page.locator("#output-drawing img")) == [40, 40]
    assert page.title() == "Results of hostile_outputs · fastproc"
    assert page.locator("script").count() == 0

    raw = client.get(f"{results}/drawing")
    assert raw.headers["content-security-policy"] == "sandbox"
    assert raw.headers["x-content-type-options"] == "nosniff"
    page.goto(f"{results}/drawing")
    expect(page.locator("rect")).to_have_count(1)  # the SVG itself, without its script
    assert page.title() == "", "the SVG's script ran"
    assert dialogs == []
