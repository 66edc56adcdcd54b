"""What a person sees of one output on the results page, chosen by its media type: an image,
a table of the first rows of a CSV/TSV, a feature table of GeoJSON with its bounding box, a
collapsible tree of JSON, text, or nothing but a download link.

Every preview is built from bytes the caller already holds, and never needs all of them: an
output stored apart arrives as its first `PREVIEW_BYTES`, and each preview says how much of
the output it shows. The functions here do no I/O and return plain values; the template
escapes every one of them (outputs are data from a process, so possibly hostile).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from fastproc.api.html.render import MAX_SHOWN

#: How much of an output stored apart is read to preview it (one GETRANGE).
PREVIEW_BYTES = 64 * 1024
#: Rows of a table, features of a GeoJSON document shown.
PREVIEW_ROWS = 100
#: Columns of a table shown, and characters of one cell.
MAX_COLUMNS = 50
MAX_CELL = 500
#: Values of a JSON document shown as tree nodes, and how deep the tree goes: bounded, so a
#: hostile document neither makes a huge page nor recurses the renderer to death.
MAX_JSON_NODES = 2_000
MAX_JSON_DEPTH = 20

#: Images a browser shows safely in an `<img>`. SVG is among them because an `<img>` never
#: runs an SVG's scripts; its raw URL is served sandboxed for a browser that opens it.
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp",
                           "image/svg+xml"})
GEOJSON = "application/geo+json"
_DELIMITERS = {"text/csv": ",", "text/tab-separated-values": "\t"}
_GEOJSON_TYPES = frozenset({"FeatureCollection", "Feature"})
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class Kind(StrEnum):
    IMAGE = "image"
    TABLE = "table"
    GEOJSON = "geojson"
    JSON = "json"
    TEXT = "text"
    DOWNLOAD = "download"


@dataclass(slots=True)
class Table:
    columns: list[str]
    rows: list[list[str]]


@dataclass(slots=True)
class FeatureTable:
    """Features as rows: geometry type, then one column per property name seen."""

    columns: list[str]
    rows: list[list[str]]
    count: int
    bbox: tuple[float, float, float, float] | None = None
    #: Where the bounding box comes from: the document's `bbox`, or the features' positions.
    bbox_source: str = ""


@dataclass(slots=True)
class JsonNode:
    """A value of a JSON document: a scalar's JSON text, or a container and its members.

    `hidden` counts the members left out once the node budget ran out."""

    key: str | None
    literal: str | None = None
    opener: str = ""
    closer: str = ""
    children: list[JsonNode] = field(default_factory=list)
    size: int = 0
    hidden: int = 0


@dataclass(slots=True)
class Preview:
    kind: Kind
    text: str | None = None
    table: Table | None = None
    features: FeatureTable | None = None
    tree: JsonNode | None = None
    note: str | None = None


def bare_media_type(media_type: str) -> str:
    """`text/csv; charset=utf-8` reads as `text/csv`."""
    return media_type.split(";")[0].strip().lower()


def preview_kind(media_type: str) -> Kind:
    bare = bare_media_type(media_type)
    if bare in INLINE_IMAGES:
        return Kind.IMAGE
    if bare in _DELIMITERS:
        return Kind.TABLE
    if bare == GEOJSON:
        return Kind.GEOJSON
    if bare == "application/json" or bare.endswith("+json"):
        return Kind.JSON
    if bare.startswith("text/") or bare in ("application/xml", "application/x-ndjson") \
            or bare.endswith("+xml"):
        return Kind.TEXT
    return Kind.DOWNLOAD


def looks_like_geojson(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in _GEOJSON_TYPES


# -- from bytes (an output, or the first bytes of one) ---------------------------------------


def preview_bytes(data: bytes, media_type: str, total: int | None = None) -> Preview:
    """The preview of `data`, the first bytes of an output of `total` bytes (all of it when
    `total` is None or no more than `len(data)`)."""
    total = len(data) if total is None else total
    complete = len(data) >= total
    kind = preview_kind(media_type)
    if kind is Kind.TABLE:
        return _table_preview(data, _DELIMITERS[bare_media_type(media_type)], total)
    if kind in (Kind.JSON, Kind.GEOJSON):
        if complete:
            try:
                return preview_value(orjson.loads(data), media_type)
            except orjson.JSONDecodeError:
                return _text_preview(data, total)
        if kind is Kind.GEOJSON:
            return _partial_geojson_preview(data, total)
        return _text_preview(data, total)
    if kind is Kind.TEXT:
        return _text_preview(data, total)
    return Preview(kind)


def decode_prefix(data: bytes, complete: bool) -> str:
    """UTF-8 text of `data`; a character cut in two at the end of a prefix is left out."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(data, final=complete)


def _read_note(data: bytes, total: int) -> str:
    return f"the first {len(data):,} of {total:,} bytes"


def _text_preview(data: bytes, total: int) -> Preview:
    complete = len(data) >= total
    text = decode_prefix(data, complete)
    note = None if complete else f"showing {_read_note(data, total)}"
    if len(text) > MAX_SHOWN:
        text = text[:MAX_SHOWN]
        note = f"showing the first {MAX_SHOWN:,} characters"
    return Preview(Kind.TEXT, text=text, note=note)


def _cell(text: str) -> str:
    return text if len(text) <= MAX_CELL else text[:MAX_CELL] + "…"


def table_rows(text: str, delimiter: str, limit: int = PREVIEW_ROWS
               ) -> tuple[list[str], list[list[str]], bool]:
    """Header, up to `limit` rows, and whether more rows follow. A row the CSV reader
    refuses (a field over its size limit) ends the table there."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] = []
    rows: list[list[str]] = []
    try:
        header = next(reader, [])
        for row in reader:
            if len(rows) == limit:
                return header, rows, True
            rows.append(row)
    except csv.Error:
        return header, rows, True
    return header, rows, False


def _table_preview(data: bytes, delimiter: str, total: int) -> Preview:
    complete = len(data) >= total
    text = decode_prefix(data, complete)
    if not complete:  # the last line may be cut: keep whole lines only
        text = text[:text.rfind("\n") + 1]
    header, rows, more = table_rows(text, delimiter)
    width = min(MAX_COLUMNS, max([len(header), *(len(row) for row in rows)]))
    table = Table(columns=[_cell(c) for c in header[:width]],
                  rows=[[_cell(c) for c in row[:width]] for row in rows])
    note = None
    if more or not complete:
        note = f"showing the first {len(rows):,} rows"
        if not complete:
            note += f", read from {_read_note(data, total)}"
    return Preview(Kind.TABLE, table=table, note=note)


# -- from a JSON value ------------------------------------------------------------------------


def preview_value(value: Any, media_type: str | None = None) -> Preview:
    """The preview of a JSON value: GeoJSON as a feature table, anything else as a tree."""
    if (media_type and bare_media_type(media_type) == GEOJSON) or looks_like_geojson(value):
        features = _features_of(value)
        if features is not None:
            return _feature_preview(value, features)
    return Preview(Kind.JSON, tree=json_tree(value))


def _literal(value: Any) -> str:
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # nested deeper than orjson writes, or an integer over 64 bits
        if not isinstance(value, int):
            return "[…]" if isinstance(value, list) else "{…}"
        text = str(value)  # as many digits as the JSON it was read from had
    return text if len(text) <= MAX_CELL else text[:MAX_CELL] + "…"


def json_tree(value: Any, key: str | None = None, budget: list[int] | None = None,
              depth: int = 0) -> JsonNode:
    """`value` as nodes, depth first, until `MAX_JSON_NODES` nodes have been made."""
    budget = [MAX_JSON_NODES] if budget is None else budget
    budget[0] -= 1
    if not isinstance(value, dict | list) or not value:
        return JsonNode(key, literal=_literal(value))
    if depth >= MAX_JSON_DEPTH:
        return JsonNode(key, literal="[…]" if isinstance(value, list) else "{…}")
    members = (((_literal(str(k)), v) for k, v in value.items()) if isinstance(value, dict)
               else ((None, v) for v in value))
    node = JsonNode(key, opener="{" if isinstance(value, dict) else "[",
                    closer="}" if isinstance(value, dict) else "]", size=len(value))
    for name, member in members:
        if budget[0] <= 0:
            break
        node.children.append(json_tree(member, name, budget, depth + 1))
    node.hidden = node.size - len(node.children)
    return node


# -- GeoJSON ----------------------------------------------------------------------------------


def _features_of(doc: Any) -> list[Any] | None:
    if not isinstance(doc, dict):
        return None
    if doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        return list(doc["features"])
    if doc.get("type") == "Feature":
        return [doc]
    return None


def _positions(geometry: Any) -> Iterator[tuple[float, float]]:
    """Every position of a geometry (a GeometryCollection's too), without recursion."""
    stack: list[Any] = [geometry]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.get(k) for k in ("coordinates", "geometries") if k in item)
        elif isinstance(item, list):
            if len(item) >= 2 and all(_is_number(c) for c in item[:2]):
                x, y = _coordinate(item[0]), _coordinate(item[1])
                if x is not None and y is not None:
                    yield x, y
            else:
                stack.extend(item)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _coordinate(value: int | float) -> float | None:
    """A coordinate a bounding box can hold; None for a number no float holds (an integer
    of 400 digits, which the JSON of an output's head may carry) or an infinite one (what
    `1e400` or `Infinity` reads as)."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def bounding_box(features: list[Any]) -> tuple[float, float, float, float] | None:
    xs: list[float] = []
    ys: list[float] = []
    for feature in features:
        if isinstance(feature, dict):
            for x, y in _positions(feature.get("geometry")):
                xs.append(x)
                ys.append(y)
    return (min(xs), min(ys), max(xs), max(ys)) if xs else None


def declared_bbox(doc: Any) -> tuple[float, float, float, float] | None:
    """A document's own `bbox` member (2D or 3D, RFC 7946 5), as west, south, east, north."""
    box = doc.get("bbox") if isinstance(doc, dict) else None
    if not isinstance(box, list) or len(box) not in (4, 6) or not all(map(_is_number, box)):
        return None
    half = len(box) // 2
    west, south, east, north = (_coordinate(box[i]) for i in (0, 1, half, half + 1))
    if west is None or south is None or east is None or north is None:
        return None
    return west, south, east, north


def _property_text(value: Any) -> str:
    return _cell(value) if isinstance(value, str) else _literal(value)


def feature_table(features: list[Any], limit: int = PREVIEW_ROWS) -> FeatureTable:
    shown = features[:limit]
    columns: list[str] = []
    for feature in shown:
        props = feature.get("properties") if isinstance(feature, dict) else None
        for name in props if isinstance(props, dict) else ():
            if name not in columns and len(columns) < MAX_COLUMNS:
                columns.append(name)
    rows = []
    for feature in shown:
        feature = feature if isinstance(feature, dict) else {}
        geometry = feature.get("geometry")
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        props = feature.get("properties")
        props = props if isinstance(props, dict) else {}
        rows.append([str(kind) if kind else "no geometry",
                     *(_property_text(props[c]) if c in props else "" for c in columns)])
    return FeatureTable(columns=[_cell(c) for c in columns], rows=rows, count=len(features))


def _feature_preview(doc: Any, features: list[Any], read: str | None = None) -> Preview:
    """`read` says which part of the output the features come from, if not all of it."""
    table = feature_table(features)
    table.bbox = declared_bbox(doc)
    table.bbox_source = "declared by the document"
    if table.bbox is None:
        table.bbox = bounding_box(features)
        table.bbox_source = f"of the {len(features):,} features{' read' if read else ''}"
    note = None
    if len(features) > PREVIEW_ROWS or read:
        note = f"showing the first {len(table.rows):,} features"
        if read:
            note += f", read from {read}"
    return Preview(Kind.GEOJSON, features=table, note=note)


def _partial_geojson_preview(data: bytes, total: int) -> Preview:
    members, features = partial_feature_collection(decode_prefix(data, complete=False))
    if not features:
        return _text_preview(data, total)
    return _feature_preview(members, features, read=_read_note(data, total))


def _skip(text: str, pos: int) -> int:
    found = _WHITESPACE.match(text, pos)
    return found.end() if found else pos


def _array_items(text: str, pos: int, into: list[Any]) -> int:
    """Decode the items of the array opening at `pos` into `into`, as far as they are whole."""
    decoder = json.JSONDecoder()
    pos = _skip(text, pos + 1)
    while not text.startswith("]", pos):
        item, pos = decoder.raw_decode(text, pos)
        into.append(item)
        pos = _skip(text, pos)
        if text.startswith(",", pos):
            pos = _skip(text, pos + 1)
        elif not text.startswith("]", pos):
            raise ValueError("cut")
    return pos + 1


def partial_feature_collection(text: str) -> tuple[dict[str, Any], list[Any]]:
    """The members of a GeoJSON object cut short, and the whole features of its `features`
    array before the cut: a large FeatureCollection is previewed from its first bytes."""
    decoder = json.JSONDecoder()
    members: dict[str, Any] = {}
    features: list[Any] = []
    pos = _skip(text, 0)
    if not text.startswith("{", pos):
        return members, features
    pos += 1
    try:
        while True:
            key, pos = decoder.raw_decode(text, _skip(text, pos))
            pos = _skip(text, pos)
            if not text.startswith(":", pos):
                break
            pos = _skip(text, pos + 1)
            if key == "features" and text.startswith("[", pos):
                pos = _array_items(text, pos, features)
            else:
                members[str(key)], pos = decoder.raw_decode(text, pos)
            pos = _skip(text, pos)
            if not text.startswith(",", pos):
                break
            pos += 1
    except (ValueError, RecursionError):  # the cut (or a nesting too deep): keep what is whole
        pass
    return members, features
