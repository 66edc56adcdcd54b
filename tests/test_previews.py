"""Output previews on the results page: each media type gets its view (a table of a CSV's
first rows, a feature table and bounding box of GeoJSON, a collapsible JSON tree, text, an
image, a download link), an output stored apart is previewed from its first bytes only, and
whatever a process put in an output shows as text, never as markup. The last test asks the
real API (with its worker and Valkey) for the page of an output no float can bound."""

from __future__ import annotations

import asyncio
import json
import math
import re
from html.parser import HTMLParser
from typing import Any

import orjson
import pytest
import redis

from fastproc.api.html.previews import (
    MAX_JSON_DEPTH,
    MAX_JSON_NODES,
    PREVIEW_BYTES,
    PREVIEW_ROWS,
    JsonNode,
    Kind,
    partial_feature_collection,
    preview_bytes,
    preview_kind,
    preview_value,
)
from fastproc.api.html.render import environment
from fastproc.api.html.result_views import OutputView, output_views
from fastproc.ogc.models import OutputDescription
from fastproc.store.result_document import encode_results
from tests.e2e import show
from tests.preview_processes import (
    HOSTILE,
    HOSTILE_JSON,
    HOSTILE_SVG,
    HostileOutputs,
    overflowing_geojson,
)
from tests.support import Processes, Stack, start_job, wait_job

JOB = "http://api/jobs/0123"


def squares(n: int) -> bytes:
    return ("n,square\n" + "".join(f"{i},{i * i}\n" for i in range(n))).encode()


def spiral(n: int, **extra: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", **extra, "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [i, -i]},
         "properties": {"index": i, "name": f"p{i}"}} for i in range(n)]}


class Heads:
    """The first bytes of outputs stored apart, as the store reads them, with every read
    recorded: a preview must ask for its head, never for the whole output."""

    def __init__(self, outputs: dict[str, bytes]) -> None:
        self.outputs = outputs
        self.reads: list[tuple[str, int]] = []

    async def __call__(self, name: str, n: int) -> bytes | None:
        self.reads.append((name, n))
        data = self.outputs.get(name)
        return None if data is None else data[:n]


def views_of(outputs: dict[str, Any], descriptions: dict[str, OutputDescription],
             inline_limit: int | None = None) -> tuple[list[OutputView], Heads]:
    encoded = encode_results(outputs, descriptions, inline_limit)
    heads = Heads(encoded.apart)
    views = asyncio.run(output_views(orjson.loads(encoded.document), descriptions, JOB, heads))
    return views, heads


def binary_output(media_type: str) -> OutputDescription:
    return OutputDescription(schema={"type": "string", "contentMediaType": media_type})


def results_page(views: list[OutputView]) -> str:
    return environment().get_template("results.html").render(
        base="http://api", static=lambda path: f"/static/{path}", json_href="?f=json",
        outputs=views, job_id="0123", job_href=JOB, process_id="p", links=[],
        rel_results="results")


class Markup(HTMLParser):
    """Every element of a page and its attributes, to prove no output became markup."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


# -- which preview for which media type -------------------------------------------------------


@pytest.mark.parametrize(("media_type", "kind"), [
    ("image/png", Kind.IMAGE), ("image/jpeg", Kind.IMAGE), ("image/svg+xml", Kind.IMAGE),
    ("text/csv; charset=utf-8", Kind.TABLE), ("text/tab-separated-values", Kind.TABLE),
    ("application/geo+json", Kind.GEOJSON), ("application/json", Kind.JSON),
    ("application/schema+json", Kind.JSON), ("text/plain", Kind.TEXT),
    ("application/xml", Kind.TEXT), ("image/tiff", Kind.DOWNLOAD),
    ("application/octet-stream", Kind.DOWNLOAD), ("application/zip", Kind.DOWNLOAD),
])
def test_each_media_type_has_its_preview_kind(media_type: str, kind: Kind) -> None:
    assert preview_kind(media_type) is kind


# -- tables -----------------------------------------------------------------------------------


def test_a_csv_shows_its_header_and_first_hundred_rows() -> None:
    preview = preview_bytes(squares(250), "text/csv")
    assert preview.kind is Kind.TABLE and preview.table is not None
    assert preview.table.columns == ["n", "square"]
    assert len(preview.table.rows) == PREVIEW_ROWS
    assert preview.table.rows[-1] == ["99", "9801"]
    assert preview.note == "showing the first 100 rows"


def test_a_short_csv_shows_every_row_and_says_nothing_is_left_out() -> None:
    preview = preview_bytes(squares(3), "text/csv")
    assert preview.table is not None and preview.table.rows == [["0", "0"], ["1", "1"],
                                                                ["2", "4"]]
    assert preview.note is None


def test_a_tsv_is_split_on_tabs_and_quoted_cells_keep_their_commas_and_newlines() -> None:
    tsv = preview_bytes(b"a\tb\n1,5\t2\n", "text/tab-separated-values")
    assert tsv.table is not None and tsv.table.rows == [["1,5", "2"]]
    csv = preview_bytes(b'a,b\n"x, y","two\nlines"\n', "text/csv")
    assert csv.table is not None and csv.table.rows == [["x, y", "two\nlines"]]


def test_the_head_of_a_large_csv_shows_whole_rows_and_says_how_much_was_read() -> None:
    data = squares(50)
    cut = data.index(b"\n20,400\n") + 4  # inside the line of 20
    preview = preview_bytes(data[:cut], "text/csv", total=len(data))
    assert preview.table is not None
    assert preview.table.rows[-1] == ["19", "361"], "a row cut by the prefix is shown"
    assert preview.note == (f"showing the first 20 rows, read from the first {cut:,} "
                            f"of {len(data):,} bytes")


# -- GeoJSON ----------------------------------------------------------------------------------


def test_geojson_shows_a_feature_table_with_its_bounding_box() -> None:
    doc = spiral(3)
    doc["features"][1]["properties"]["extra"] = {"nested": True}
    doc["features"][2]["geometry"] = {"type": "LineString", "coordinates": [[5, 1], [-7, 9]]}
    preview = preview_value(doc, "application/geo+json")
    table = preview.features
    assert preview.kind is Kind.GEOJSON and table is not None
    assert table.columns == ["index", "name", "extra"]
    assert table.rows == [["Point", "0", "p0", ""], ["Point", "1", "p1", '{"nested":true}'],
                          ["LineString", "2", "p2", ""]]
    assert table.count == 3
    assert table.bbox == (-7.0, -1.0, 5.0, 9.0)
    assert table.bbox_source == "of the 3 features"


def test_a_geojson_documents_own_bbox_is_the_one_shown() -> None:
    three_d = preview_value(spiral(2, bbox=[-10, -20, 0, 10, 20, 5]))
    assert three_d.features is not None
    assert three_d.features.bbox == (-10.0, -20.0, 10.0, 20.0)
    assert three_d.features.bbox_source == "declared by the document"


def test_a_json_value_shaped_as_geojson_is_a_feature_table_and_a_lone_feature_too() -> None:
    assert preview_value(spiral(1)).kind is Kind.GEOJSON
    feature = spiral(1)["features"][0]
    lone = preview_value(feature)
    assert lone.features is not None and lone.features.rows == [["Point", "0", "p0"]]


def test_coordinates_no_float_holds_are_left_out_of_the_bounding_box() -> None:
    data = overflowing_geojson()
    preview = preview_bytes(data[:PREVIEW_BYTES], "application/geo+json", total=len(data))
    table = preview.features
    assert preview.kind is Kind.GEOJSON and table is not None
    plain = table.count - 4  # the points (i, -i) read, after the four odd ones
    assert plain > 10
    assert table.bbox == (1.0, -plain, plain, -1.0)
    assert table.bbox_source == f"of the {table.count:,} features read"
    assert table.columns == ["odd", "index", "huge"]
    assert table.rows[4] == ["Point", "", "1", str(10**400)]
    whole = preview_value(json.loads(overflowing_geojson(10)))
    assert whole.features is not None and whole.features.bbox == (1.0, -9.0, 9.0, -1.0)


def test_geojson_lists_the_first_hundred_features_but_bounds_them_all() -> None:
    preview = preview_bytes(json.dumps(spiral(150)).encode(), "application/geo+json")
    assert preview.features is not None and len(preview.features.rows) == PREVIEW_ROWS
    assert preview.features.count == 150
    assert preview.features.bbox == (0.0, -149.0, 149.0, 0.0)
    assert preview.note == "showing the first 100 features"


def test_the_head_of_a_large_feature_collection_shows_its_whole_features() -> None:
    data = json.dumps(spiral(40, name="cut short")).encode()
    cut = data.index(b'"p12"')
    members, features = partial_feature_collection(data[:cut].decode())
    assert members == {"type": "FeatureCollection", "name": "cut short"}
    assert [f["properties"]["index"] for f in features] == list(range(12))
    preview = preview_bytes(data[:cut], "application/geo+json", total=len(data))
    assert preview.features is not None and preview.features.count == 12
    assert preview.features.bbox == (0.0, -11.0, 11.0, 0.0)
    assert preview.features.bbox_source == "of the 12 features read"
    assert preview.note == (f"showing the first 12 features, read from the first {cut:,} "
                            f"of {len(data):,} bytes")


def test_the_head_of_geojson_with_no_whole_feature_is_shown_as_text() -> None:
    data = json.dumps(spiral(3)).encode()
    preview = preview_bytes(data[:30], "application/geo+json", total=len(data))
    assert preview.kind is Kind.TEXT and preview.text == data[:30].decode()


# -- JSON -------------------------------------------------------------------------------------


def test_json_is_a_tree_of_its_members_in_their_order() -> None:
    tree = preview_value({"b": [1, "two"], "a": {"c": None}, "e": {}}).tree
    assert tree is not None and tree.opener == "{" and tree.size == 3
    assert [(c.key, c.literal, c.opener) for c in tree.children] == [
        ('"b"', None, "["), ('"a"', None, "{"), ('"e"', "{}", "")]
    assert [c.literal for c in tree.children[0].children] == ["1", '"two"']


def test_a_json_scalar_is_one_literal() -> None:
    assert preview_value(3.5).tree == JsonNode(None, literal="3.5")


def nodes(node: JsonNode) -> int:
    return 1 + sum(nodes(child) for child in node.children)


def test_a_huge_json_document_is_cut_at_the_node_budget_and_says_what_it_left_out() -> None:
    tree = preview_value({"rows": list(range(10 * MAX_JSON_NODES))}).tree
    assert tree is not None and nodes(tree) == MAX_JSON_NODES
    rows = tree.children[0]
    assert rows.hidden == rows.size - len(rows.children) > 0


def test_deep_json_stops_at_a_depth_with_the_rest_as_a_literal() -> None:
    deep: Any = "bottom"
    for _ in range(500):
        deep = [deep]
    node = preview_value(deep).tree
    depth = 0
    while node is not None and node.children:
        node, depth = node.children[0], depth + 1
    assert depth == MAX_JSON_DEPTH and node is not None
    assert node.literal == "[…]"
    results_page([OutputView("deep", "deep", "application/json", "x",
                             preview_value(deep))])  # renders: no recursion error


def test_cut_or_invalid_json_bytes_are_shown_as_text() -> None:
    data = orjson.dumps({"values": list(range(100))})
    cut = preview_bytes(data[:50], "application/json", total=len(data))
    assert cut.kind is Kind.TEXT and cut.text == data[:50].decode()
    assert cut.note == f"showing the first 50 of {len(data):,} bytes"
    assert preview_bytes(b"{not json", "application/json").text == "{not json"


# -- text -------------------------------------------------------------------------------------


def test_the_head_of_text_leaves_out_a_character_cut_in_two() -> None:
    data = "naïve café ☕".encode()
    preview = preview_bytes(data[:-1], "text/plain", total=len(data))
    assert preview.text == "naïve café "


# -- stored outputs: inline or apart ---------------------------------------------------------


def test_outputs_stored_apart_are_previewed_from_their_head_only() -> None:
    table = squares(20_000)
    geo = json.dumps(spiral(2_000)).encode()
    views, heads = views_of(
        {"table": table, "places": geo, "image": b"\x89PNG" + bytes(100_000),
         "blob": bytes(100_000)},
        {"table": binary_output("text/csv"), "places": binary_output("application/geo+json"),
         "image": binary_output("image/png"), "blob": binary_output("application/zip")},
        inline_limit=1000)
    assert sorted(heads.reads) == [("places", PREVIEW_BYTES), ("table", PREVIEW_BYTES)]
    by_name = {view.name: view for view in views}
    assert by_name["table"].size == len(table)
    assert by_name["table"].preview.note == (
        f"showing the first 100 rows, read from the first {PREVIEW_BYTES:,} of "
        f"{len(table):,} bytes")
    features = by_name["places"].preview.features
    assert features is not None and 0 < features.count < 2_000
    assert by_name["image"].preview.kind is Kind.IMAGE
    assert by_name["blob"].preview.kind is Kind.DOWNLOAD and by_name["blob"].size == 100_000


def test_an_output_stored_apart_that_is_gone_is_said_to_be() -> None:
    views = asyncio.run(output_views(
        {"table": {"mediaType": "text/csv", "size": 5000, "apart": True}}, {}, JOB,
        Heads({})))
    assert views[0].preview.kind is Kind.DOWNLOAD
    assert views[0].preview.note == "this output is gone (expired or removed)"


def test_inline_outputs_get_their_preview_by_media_type_or_description() -> None:
    views, heads = views_of(
        {"n": 3, "word": "hi", "stats": {"count": 2}, "places": spiral(2),
         "described": spiral(1) | {"type": "Other", "features": []}},
        {"described": OutputDescription(schema={"type": "object",
                                                "contentMediaType": "application/geo+json"})})
    kinds = {view.name: (view.preview.kind, view.media_type) for view in views}
    assert kinds == {"n": (Kind.JSON, "application/json"),
                     "word": (Kind.TEXT, "text/plain; charset=utf-8"),
                     "stats": (Kind.JSON, "application/json"),
                     "places": (Kind.GEOJSON, "application/json"),
                     "described": (Kind.JSON, "application/geo+json")}
    assert heads.reads == []


# -- hostile outputs --------------------------------------------------------------------------


def test_hostile_outputs_show_as_text_and_never_as_markup() -> None:
    process = HostileOutputs()
    outputs = asyncio.run(process.execute({}, lambda *args, **kwargs: None))
    views, _ = views_of(outputs, process.description.outputs)
    assert {v.name: v.preview.kind for v in views} == {
        "doc": Kind.JSON, "table": Kind.TABLE, "places": Kind.GEOJSON, "notes": Kind.TEXT,
        "drawing": Kind.IMAGE}
    page = results_page(views)
    tags = Markup(page).tags
    assert [attrs for tag, attrs in tags if tag == "script"] == []
    assert not [attrs for _, attrs in tags if any(a.startswith("on") for a in attrs)]
    assert [attrs["src"] for tag, attrs in tags if tag == "img"] == [f"{JOB}/results/drawing"]
    assert "<script>" not in page and "</script>" not in page
    escaped = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    shown = escaped.replace('"', "&#34;")
    assert page.count(shown) == 4, "the CSV cell, the GeoJSON property name and value, the " \
        "text: each shows the markup as text"
    json_key = escaped.replace('"', '\\&#34;')  # a JSON string literal, its quotes escaped
    assert f"&#34;{json_key}&#34;" in page
    assert "&lt;/script&gt;&lt;script&gt;" in page and HOSTILE_JSON not in page
    assert HOSTILE_SVG not in page and "parent.document" not in page


# -- on the real results page -----------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    """Outputs over 100,000 bytes stored apart: a page previews them from their head."""
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES="tests.preview_processes",
                       FASTPROC_INLINE_OUTPUT_BYTES="100000")


def test_the_page_of_geojson_with_coordinates_no_float_holds_shows_its_features(
        stack: Stack) -> None:
    assert len(overflowing_geojson()) > 100_000
    with stack.client() as client:
        job = start_job(client, "overflowing_geojson", {})
        assert wait_job(client, job.id)["status"] == "successful"
        page = client.get(f"/jobs/{job.id}/results", params={"f": "html"})
    assert page.status_code == 200, show(page)
    box = re.search(r'bounding box <span class="mono">\[([^\]]+)\]', page.text)
    assert box is not None, page.text
    west, south, east, north = (float(n) for n in box.group(1).split(","))
    assert all(map(math.isfinite, (west, south, east, north)))
    assert (west, north) == (1.0, -1.0) and east == -south > 10
