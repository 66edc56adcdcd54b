"""The example processes. Their ids and shapes are a public contract: OGC clients,
conformance suites and the benchmarks call them by id."""

from __future__ import annotations

import asyncio
import json
import math
import struct
import zlib
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, Field

from fastproc import (
    BaseParallelProcess,
    BaseProcess,
    BaseScatterProcess,
    BBox,
    Binary,
    InputDescription,
    MediaType,
    OutputDescription,
    ProcessDescription,
    ProcessError,
    Progress,
    parallel_step,
    process,
)
from fastproc.authoring.types import BBOX_SCHEMA, CRS84

_ECHO_ARRAY = {"type": "array", "items": {"type": "integer"}}
# `format: ogc-bbox` first: the OGC test suite reads each `allOf` member's `format` and
# stops at the first `ogc-bbox`; a member without one before it breaks its parser.
_ECHO_BBOX = {"allOf": [{"format": "ogc-bbox"}, BBOX_SCHEMA]}
_ECHO_OBJECT = {"type": "object", "additionalProperties": True}
_ECHO_MIXED = {"oneOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}]}
# A media-typed text: the OGC test suite checks input validation only on an input with a
# `contentMediaType` (and sends its GeoTIFF only to a binary or `tiff` one, so not this).
_ECHO_TEXT = {"type": "string", "contentMediaType": "text/plain"}
#: What an optional input of echo is when not given, so that every output it describes is
#: in every results document (/req/core/process-execute-default-outputs).
_ECHO_DEFAULTS: dict[str, Any] = {
    "array": [], "bbox": {"bbox": [-180, -90, 180, 90], "crs": CRS84}, "object": {},
    "mixed": "", "text": ""}


def _with_default(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "default": _ECHO_DEFAULTS[name]}


class Echo(BaseProcess):
    """Echo: every input comes back unchanged as the output of the same id.

    It is the process the OGC API - Processes test suite executes (docs/conformance.md), so
    it offers one input of each kind the suite looks for: a plain string first, `pause`, an
    array, a bounding box, an object, a mixed-type (`oneOf`) one and a media-typed text.
    Every optional input has a default, so every output is in every answer; a caller who
    wants one output alone asks for it (`"outputs": {"value": {}}`).
    """

    description = ProcessDescription(
        id="echo",
        title="Echo",
        description="Returns its inputs: each one comes back as the output of the same id "
                    "(an optional one not given, as its default). `pause` waits that many "
                    "seconds first, so a client can watch a running job.",
        keywords=["test"],
        inputs={
            "value": InputDescription(
                title="value", description="Any text; it comes back unchanged.",
                schema={"type": "string"}),
            "pause": InputDescription(
                title="pause", description="Seconds to wait before answering (default: none).",
                schema={"type": "integer", "minimum": 0, "maximum": 60}, minOccurs=0),
            "array": InputDescription(
                title="array", description="A list of integers.",
                schema=_with_default("array", _ECHO_ARRAY), minOccurs=0),
            "bbox": InputDescription(
                title="bbox", description="A bounding box.",
                schema=_with_default("bbox", _ECHO_BBOX), minOccurs=0),
            "object": InputDescription(
                title="object", description="Any JSON object.",
                schema=_with_default("object", _ECHO_OBJECT), minOccurs=0),
            "mixed": InputDescription(
                title="mixed", description="A string, a number or a boolean.",
                schema=_with_default("mixed", _ECHO_MIXED), minOccurs=0),
            "text": InputDescription(
                title="text", description="Plain text (text/plain).",
                schema=_with_default("text", _ECHO_TEXT), minOccurs=0),
        },
        outputs={
            "value": OutputDescription(title="value", schema={"type": "string"}),
            "array": OutputDescription(title="array", schema=_ECHO_ARRAY),
            "bbox": OutputDescription(title="bbox", schema=_ECHO_BBOX),
            "object": OutputDescription(title="object", schema=_ECHO_OBJECT),
            "mixed": OutputDescription(title="mixed", schema=_ECHO_MIXED),
            # Plain text as any string output: a client need not save it as a file.
            "text": OutputDescription(title="text", schema={"type": "string"}),
        },
    )
    deterministic = True
    #: A caller that asks for a pause wants to watch a running job, never a cached answer.
    uncached_inputs = frozenset({"pause"})

    async def execute(self, inputs: dict[str, Any], progress: Progress) -> dict[str, Any]:
        if inputs.get("pause"):
            await asyncio.sleep(inputs["pause"])
        return {name: inputs.get(name, _ECHO_DEFAULTS.get(name))
                for name in self.description.outputs}


@process(version="1.0.0", output="slept", job_control=("async-execute", "dismiss"),
         keywords=["test"])
async def sleep(
    seconds: Annotated[float, Field(ge=0, le=3600, description="How long to sleep.")],
    progress: Progress,
) -> float:
    """Sleep: waits, reporting progress ten times, then says how long it slept."""
    for step in range(10):
        progress(step * 10, f"slept {seconds * step / 10:.2f} of {seconds:g} s")
        await asyncio.sleep(seconds / 10)
    return seconds


@process(version="1.0.0", keywords=["test"])
async def fail(message: str = "this process always fails") -> str:
    """Fail: always raises, so clients can see what a failed job looks like."""
    raise ProcessError(message)


@process(version="1.0.0", deterministic=True, output="sum", keywords=["math"])
async def add(a: float, b: float) -> float:
    """Add: the sum of two numbers."""
    return a + b


class NumberStats(BaseModel):
    count: int = Field(description="How many numbers there were.")
    minimum: float | None = Field(description="The smallest number (null when none).")
    maximum: float | None = Field(description="The largest number (null when none).")
    mean: float | None = Field(description="The arithmetic mean (null when none).")


@process(version="1.0.0", deterministic=True, keywords=["math"])
def number_stats(numbers: list[float]) -> NumberStats:
    """Number statistics: several outputs from one list (a sync body, run in a thread)."""
    if not numbers:
        return NumberStats(count=0, minimum=None, maximum=None, mean=None)
    return NumberStats(count=len(numbers), minimum=min(numbers), maximum=max(numbers),
                       mean=sum(numbers) / len(numbers))


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


@process(version="1.0.0", deterministic=True, output="image", keywords=["image"])
async def solid_png(
    width: Annotated[int, Field(ge=1, le=4096)] = 16,
    height: Annotated[int, Field(ge=1, le=4096)] = 16,
    color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#3366cc",
) -> Annotated[bytes, MediaType("image/png")]:
    """Solid PNG: an image of one colour (a binary output)."""
    rgb = (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))
    return _png(width, height, rgb)


@process(version="1.0.0", deterministic=True, output="table", keywords=["table"])
async def squares_csv(
    n: Annotated[int, Field(ge=0, le=100_000, description="Rows of the table.")] = 5,
) -> Annotated[Binary, MediaType("text/csv")]:
    """Squares CSV: a small text/csv table of n and n squared."""
    lines = ["n,square", *(f"{i},{i * i}" for i in range(n))]
    return Binary(("\n".join(lines) + "\n").encode(), "text/csv")


_WORDS = {"type": "array", "items": {"type": "string"}}


class ByteStats(TypedDict):
    size: int
    checksum: int


class BatchUpper(BaseParallelProcess):
    """Data fan-out: the words are split into chunks, each upper-cased by its own task."""

    description = ProcessDescription(
        id="batch_upper",
        title="Batch upper",
        description="Upper-cases a list of words, chunks in parallel, in order.",
        keywords=["text", "fan-out"],
        inputs={
            "words": InputDescription(title="Words", schema=_WORDS),
            "chunk": InputDescription(
                title="Chunk size", description="Words per parallel part (default 100).",
                schema={"type": "integer", "minimum": 1}, minOccurs=0),
        },
        outputs={"words": OutputDescription(title="Upper-cased words", schema=_WORDS)},
    )
    deterministic = True

    def split_inputs(self, inputs: dict[str, Any]) -> list[Any]:
        return self.chunks(inputs["words"], inputs.get("chunk"))

    async def execute_single(self, item: list[str], progress: Progress) -> list[str]:
        return [word.upper() for word in item]

    def merge_results(self, results: list[list[str]]) -> dict[str, Any]:
        return {"words": [word for chunk in results for word in chunk]}


class TextStats(BaseScatterProcess):
    """Operation scatter: three statistics of one text, each computed by its own task."""

    description = ProcessDescription(
        id="text_stats",
        title="Text statistics",
        description="Word count, character count and sorted unique words of a text.",
        keywords=["text", "scatter"],
        inputs={"text": InputDescription(title="Text", schema={"type": "string"})},
        outputs={
            "word_count": OutputDescription(title="Word count", schema={"type": "integer"}),
            "char_count": OutputDescription(title="Character count",
                                            schema={"type": "integer"}),
            "unique_words": OutputDescription(title="Unique words (lower case, sorted)",
                                              schema=_WORDS),
        },
    )
    deterministic = True

    @parallel_step
    async def word_count(self, inputs: dict[str, Any]) -> int:
        return len(inputs["text"].split())

    @parallel_step
    async def char_count(self, inputs: dict[str, Any]) -> int:
        return len(inputs["text"])

    @parallel_step
    async def unique_words(self, inputs: dict[str, Any]) -> list[str]:
        return sorted(set(inputs["text"].lower().split()))

    def merge_results(self, results: dict[str, Any]) -> dict[str, Any]:
        return dict(results)


@process(version="1.0.0", deterministic=True, output="area", keywords=["geo"])
async def bbox_area(extent: BBox) -> float:
    """Bounding-box area: the area of a 2D bounding box in square units of its CRS."""
    (minx, miny), (maxx, maxy) = extent.lower[:2], extent.upper[:2]
    return abs(maxx - minx) * abs(maxy - miny)


@process(version="1.0.0", deterministic=True, keywords=["binary"])
async def byte_stats(data: Annotated[bytes, MediaType("application/octet-stream")]
                     ) -> ByteStats:
    """Byte statistics: size and checksum of a binary input (base64 or by reference)."""
    return ByteStats(size=len(data), checksum=zlib.crc32(data))


@process(version="1.0.0", deterministic=True, output="points", keywords=["geo"])
async def points_geojson(
    n: Annotated[int, Field(ge=0, le=100_000, description="Points on the spiral.")] = 10,
) -> Annotated[Binary, MediaType("application/geo+json")]:
    """Spiral points GeoJSON: a FeatureCollection of n points on a spiral around (0, 0),
    each with its index and distance from the centre (a GeoJSON output)."""
    features = []
    for i in range(n):
        angle, radius = i * 0.5, i * 0.1
        x, y = round(radius * math.cos(angle), 6), round(radius * math.sin(angle), 6)
        features.append({"type": "Feature", "id": i,
                         "geometry": {"type": "Point", "coordinates": [x, y]},
                         "properties": {"index": i, "distance": round(radius, 6)}})
    doc = {"type": "FeatureCollection", "features": features}
    return Binary(json.dumps(doc).encode(), "application/geo+json")
