"""Processes whose outputs the results-page preview tests look at: one of every kind a page
previews, and the same kinds filled with markup and script that must show as text."""

from __future__ import annotations

import json
import math
from typing import Any

from fastproc import (
    BaseProcess,
    Binary,
    InputDescription,
    OutputDescription,
    ProcessDescription,
    Progress,
)

#: Markup in every output of `hostile_outputs`; the tests look for it escaped on the page.
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=1">'
HOSTILE_JSON = '</script><script>document.title="pwned"</script>'
#: An SVG that would change the page if its script ran.
HOSTILE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40">'
               '<script>parent.document.title="pwned";document.title="pwned"</script>'
               '<rect width="40" height="40" fill="#c33"/></svg>')

GALLERY_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="240" height="90">
<rect width="240" height="90" fill="#f6f8fa"/>
<g fill="#2457c5">
<rect x="10" y="50" width="30" height="30"/><rect x="50" y="30" width="30" height="50"/>
<rect x="90" y="40" width="30" height="40"/><rect x="130" y="15" width="30" height="65"/>
<rect x="170" y="25" width="30" height="55"/>
</g></svg>
"""

GALLERY_TEXT = """2024-05-01 12:00:00 started: 3 tiles
2024-05-01 12:00:01 tile 1 of 3 done
2024-05-01 12:00:02 tile 2 of 3 done
2024-05-01 12:00:03 tile 3 of 3 done
"""


def _outputs(**media_types: str) -> dict[str, OutputDescription]:
    return {name: OutputDescription(schema={"type": "string", "contentMediaType": media})
            for name, media in media_types.items()}


class PreviewGallery(BaseProcess):
    """One output of each kind the results page previews besides images, tables and GeoJSON
    (the example processes make those): JSON, text, SVG and bytes no browser can show."""

    description = ProcessDescription(
        id="preview_gallery", title="Preview gallery",
        outputs={
            "summary": OutputDescription(title="Run summary", schema={"type": "object"}),
            **_outputs(log="text/plain", chart="image/svg+xml",
                       archive="application/octet-stream"),
        },
    )

    async def execute(self, inputs: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return {
            "summary": {"tiles": 3, "ok": True, "extent": [-1.5, 0.0, 2.5, 4.0],
                        "tiles_done": [{"id": i, "seconds": 0.5 + i / 10} for i in range(3)],
                        "source": {"name": "survey", "year": 2024, "licence": None}},
            "log": Binary(GALLERY_TEXT.encode(), "text/plain"),
            "chart": Binary(GALLERY_SVG.encode(), "image/svg+xml"),
            "archive": Binary(bytes(range(256)) * 40, "application/octet-stream"),
        }


class HostileOutputs(BaseProcess):
    """Outputs carrying markup and script in every place a preview shows text: a CSV cell,
    a GeoJSON property name and value, a JSON string, plain text, and a scripted SVG."""

    description = ProcessDescription(
        id="hostile_outputs",
        outputs={
            "doc": OutputDescription(schema={"type": "object"}),
            **_outputs(table="text/csv", places="application/geo+json", notes="text/plain",
                       drawing="image/svg+xml"),
        },
    )

    async def execute(self, inputs: dict[str, Any], progress: Progress) -> dict[str, Any]:
        quoted = HOSTILE.replace('"', '""')  # a CSV field quotes its quotes
        places = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]},
             "properties": {"name": HOSTILE, HOSTILE: "key"}}]}
        return {
            "doc": {"title": HOSTILE_JSON, HOSTILE: [HOSTILE_JSON]},
            "table": Binary(f'name,value\n"{quoted}",1\n'.encode(), "text/csv"),
            "places": Binary(json.dumps(places).encode(), "application/geo+json"),
            "notes": Binary(HOSTILE.encode(), "text/plain"),
            "drawing": Binary(HOSTILE_SVG.encode(), "image/svg+xml"),
        }


#: A page whose script would run with the API's origin if a browser rendered it there.
HOSTILE_PAGE = '<!doctype html><html><body><script>document.title="pwned"</script></body></html>'
#: Bytes of `ScriptedOutputs`'s `big` output: over the inline limit of the stacks that test
#: outputs stored apart (they set FASTPROC_INLINE_OUTPUT_BYTES below it).
SCRIPTED_BIG = 4096


class ScriptedOutputs(BaseProcess):
    """Outputs a browser runs script from when opened (HTML, SVG, XHTML): every route that
    sends their bytes must send them sandboxed. Deterministic, so a second request is
    answered from the cache; with `big`, one more output, large enough to be stored apart
    (a result with one is never cached)."""

    deterministic = True
    description = ProcessDescription(
        id="scripted_outputs",
        inputs={"big": InputDescription(schema={"type": "boolean"}, minOccurs=0)},
        outputs=_outputs(page="text/html", drawing="image/svg+xml",
                         xhtml="application/xhtml+xml", big="text/html"),
    )

    async def execute(self, inputs: dict[str, Any], progress: Progress) -> dict[str, Any]:
        outputs = {
            "page": Binary(HOSTILE_PAGE.encode(), "text/html"),
            "drawing": Binary(HOSTILE_SVG.encode(), "image/svg+xml"),
            "xhtml": Binary(HOSTILE_PAGE.encode(), "application/xhtml+xml"),
        }
        if inputs.get("big"):
            padding = "<!-- padding -->" * (SCRIPTED_BIG // 16)
            outputs["big"] = Binary((HOSTILE_PAGE + padding).encode()[:SCRIPTED_BIG],
                                    "text/html")
        return outputs


def overflowing_geojson(features: int = 1000) -> bytes:
    """A FeatureCollection larger than a preview reads whose first features have
    coordinates no float holds (an integer of 401 digits, `Infinity`, `NaN`: what Python's
    JSON reads from a cut document), as has its `bbox` member; the others are plain points
    (i, -i), with an integer of 401 digits as a property."""
    huge = 10**400
    odd: list[list[Any]] = [[huge, 0], [0, -huge], [math.inf, 1], [math.nan, 2]]
    items = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": coordinates},
              "properties": {"odd": True}} for coordinates in odd]
    items += [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [i, -i]},
               "properties": {"index": i, "huge": huge}} for i in range(1, features)]
    return json.dumps({"type": "FeatureCollection", "bbox": [-huge, -1, huge, 1],
                       "features": items}).encode()


class OverflowingGeoJSON(BaseProcess):
    """A GeoJSON output with coordinates no float holds (`overflowing_geojson`)."""

    description = ProcessDescription(id="overflowing_geojson",
                                     outputs=_outputs(places="application/geo+json"))

    async def execute(self, inputs: dict[str, Any], progress: Progress) -> dict[str, Any]:
        return {"places": Binary(overflowing_geojson(), "application/geo+json")}
