"""Input types with a meaning in OGC API - Processes, usable in typed process signatures."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

#: bbox.yaml of the standard, published as the schema of a `BBox` input.
BBOX_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["bbox"],
    "properties": {
        "bbox": {"type": "array", "items": {"type": "number"},
                 "oneOf": [{"minItems": 4, "maxItems": 4}, {"minItems": 6, "maxItems": 6}]},
        "crs": {"type": "string", "format": "uri", "default": CRS84},
    },
}


class BBox(BaseModel):
    """A bounding box input: `{"bbox": [minx, miny, maxx, maxy], "crs": ...}` (or 6 numbers
    with heights)."""

    bbox: list[float] = Field(min_length=4, max_length=6)
    crs: str = CRS84

    @field_validator("bbox")
    @classmethod
    def _four_or_six(cls, value: list[float]) -> list[float]:
        if len(value) not in (4, 6):
            raise ValueError("a bounding box has 4 or 6 numbers")
        return value

    @property
    def lower(self) -> list[float]:
        return self.bbox[: len(self.bbox) // 2]

    @property
    def upper(self) -> list[float]:
        return self.bbox[len(self.bbox) // 2:]
