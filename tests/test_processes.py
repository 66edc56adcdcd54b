"""`/processes` and `/processes/{id}` (OGC API - Processes 1.0, 7.9-7.10 and clause 8)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e import (
    REL_EXECUTE,
    assert_exception,
    follow_pages,
    json_doc,
    links_by_rel,
    one_link,
)

EXAMPLES = {"echo", "sleep", "fail", "add", "number_stats", "solid_png", "squares_csv"}
TEST_ONLY = {"multiply", "slow_cleanup", "blocking_sleep"}


def all_processes(client: httpx.Client) -> list[dict[str, Any]]:
    doc = json_doc(client.get("/processes", params={"limit": 10_000}), "processList")
    assert not links_by_rel(doc, "next"), doc["links"]
    return list(doc["processes"])


def test_process_list_is_valid_and_holds_every_loaded_process(client: httpx.Client) -> None:
    ids = [p["id"] for p in all_processes(client)]
    assert len(ids) == len(set(ids)), ids
    assert set(ids) >= EXAMPLES | TEST_ONLY, ids


def test_process_summaries_link_their_description_and_leave_out_inputs(
    client: httpx.Client,
) -> None:
    for summary in all_processes(client):
        self_link = one_link(summary, "self")
        assert self_link["href"].endswith(f"/processes/{summary['id']}"), summary
        assert "inputs" not in summary and "outputs" not in summary, summary
        described = json_doc(client.get(self_link["href"]), "process")
        assert described["id"] == summary["id"]
        assert described["version"] == summary["version"]


def test_process_list_has_a_self_link(client: httpx.Client) -> None:
    doc = json_doc(client.get("/processes", params={"limit": 2}), "processList")
    assert "/processes" in one_link(doc, "self")["href"]


def test_process_list_limit_caps_the_page(client: httpx.Client) -> None:
    total = len(all_processes(client))
    doc = json_doc(client.get("/processes", params={"limit": 3}), "processList")
    assert len(doc["processes"]) == 3
    assert total > 3
    one_link(doc, "next")
    assert not links_by_rel(doc, "prev"), doc["links"]


def test_process_list_offset_skips_that_many_processes(client: httpx.Client) -> None:
    everything = [p["id"] for p in all_processes(client)]
    doc = json_doc(client.get("/processes", params={"limit": 2, "offset": 3}), "processList")
    assert [p["id"] for p in doc["processes"]] == everything[3:5]
    assert one_link(doc, "prev")


def test_following_next_links_visits_every_process_exactly_once(client: httpx.Client) -> None:
    everything = [p["id"] for p in all_processes(client)]
    pages = follow_pages(client, "/processes?limit=3", "processList", "processes", 3)
    seen = [p["id"] for page in pages for p in page]
    assert sorted(seen) == sorted(everything)
    assert len(seen) == len(set(seen)), seen
    assert len(pages) == -(-len(everything) // 3)


def test_following_prev_link_returns_the_previous_page(client: httpx.Client) -> None:
    first = json_doc(client.get("/processes", params={"limit": 2}), "processList")
    second = json_doc(client.get(one_link(first, "next")["href"]), "processList")
    back = json_doc(client.get(one_link(second, "prev")["href"]), "processList")
    assert [p["id"] for p in back["processes"]] == [p["id"] for p in first["processes"]]


@pytest.mark.parametrize("limit", ["0", "-1", "10001", "many"])
def test_process_list_rejects_a_limit_out_of_its_range_with_400(
    client: httpx.Client, limit: str,
) -> None:
    assert_exception(client.get("/processes", params={"limit": limit}), 400)


def test_every_process_description_is_a_valid_process_document(client: httpx.Client) -> None:
    for summary in all_processes(client):
        doc = json_doc(client.get(f"/processes/{summary['id']}"), "process")
        assert doc["id"] == summary["id"]
        for name, description in doc.get("outputs", {}).items():
            assert "schema" in description, (summary["id"], name)


def test_echo_description_states_its_text_input_and_output(client: httpx.Client) -> None:
    doc = json_doc(client.get("/processes/echo"), "process")
    assert doc["id"] == "echo"
    assert doc["version"] == "1.0.0"
    assert set(doc["jobControlOptions"]) == {"sync-execute", "async-execute", "dismiss"}
    assert set(doc["outputTransmission"]) == {"value", "reference"}
    assert next(iter(doc["inputs"])) == "value"  # the first input: what clients echo
    value = doc["inputs"]["value"]
    assert value["schema"]["type"] == "string"
    assert value.get("minOccurs", 1) == 1 and value.get("maxOccurs", 1) == 1
    assert value["description"] == "Any text; it comes back unchanged."
    assert "value" in doc["outputs"]
    assert doc["outputs"]["value"]["schema"]["type"] == "string"
    assert "test" in doc.get("keywords", [])
    assert one_link(doc, "self")["href"].endswith("/processes/echo")
    assert one_link(doc, REL_EXECUTE)["href"].endswith("/processes/echo/execution")


def test_add_description_requires_two_numbers_and_gives_their_sum(client: httpx.Client) -> None:
    doc = json_doc(client.get("/processes/add"), "process")
    assert set(doc["inputs"]) == {"a", "b"}
    for name in ("a", "b"):
        assert doc["inputs"][name]["schema"]["type"] == "number", doc["inputs"][name]
        assert doc["inputs"][name].get("minOccurs", 1) == 1
    assert set(doc["outputs"]) == {"sum"}
    assert doc["outputs"]["sum"]["schema"]["type"] == "number"


def test_sleep_description_is_async_only_with_bounded_seconds(client: httpx.Client) -> None:
    doc = json_doc(client.get("/processes/sleep"), "process")
    assert doc["jobControlOptions"] == ["async-execute", "dismiss"]
    schema = doc["inputs"]["seconds"]["schema"]
    assert schema["type"] == "number"
    assert schema["minimum"] == 0 and schema["maximum"] == 3600
    assert not schema.get("exclusiveMinimum") and not schema.get("exclusiveMaximum")


def test_solid_png_description_has_optional_inputs_and_a_png_output(client: httpx.Client) -> None:
    doc = json_doc(client.get("/processes/solid_png"), "process")
    for name in ("width", "height", "color"):
        assert doc["inputs"][name]["minOccurs"] == 0, doc["inputs"][name]
    assert doc["inputs"]["width"]["schema"]["minimum"] == 1
    assert doc["inputs"]["width"]["schema"]["maximum"] == 4096
    assert doc["inputs"]["color"]["schema"]["pattern"] == "^#[0-9a-fA-F]{6}$"
    image = doc["outputs"]["image"]["schema"]
    assert image["type"] == "string"
    assert image.get("contentMediaType") == "image/png", image


def test_multiply_description_is_the_yaml_file(client: httpx.Client) -> None:
    expected = yaml.safe_load(Path(__file__).with_name("multiply.yaml").read_text())
    doc = json_doc(client.get("/processes/multiply"), "process")
    for member in ("id", "version", "title", "description", "jobControlOptions",
                   "outputTransmission"):
        assert doc[member] == expected[member], member
    assert set(doc["inputs"]) == set(expected["inputs"])
    for name, wanted in expected["inputs"].items():
        got = doc["inputs"][name]
        assert got["title"] == wanted["title"]
        assert got["schema"] == wanted["schema"], name
        assert got.get("minOccurs", 1) == wanted.get("minOccurs", 1)
        assert got.get("maxOccurs", 1) == wanted.get("maxOccurs", 1)
    assert doc["outputs"] == expected["outputs"]


def test_unknown_process_is_404_no_such_process(client: httpx.Client) -> None:
    assert_exception(client.get("/processes/no-such-thing"), 404, "no-such-process",
                     mentions=["no-such-thing"])


def test_executing_an_unknown_process_is_404_no_such_process(client: httpx.Client) -> None:
    response = client.post("/processes/no-such-thing/execution", json={"inputs": {}})
    assert_exception(response, 404, "no-such-process", mentions=["no-such-thing"])
