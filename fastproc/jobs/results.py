"""The stored result document: every output as a qualified value.

`{output_id: {"value": <json>}}` for JSON values, `{"value": <text>, "mediaType": ...}` for
text in a media type, and `{"value": <base64>, "encoding": "base64", "mediaType": ...}` for
bytes. The worker encodes it once; the API renders it as raw, document or reference.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel

from fastproc.ogc.models import OutputDescription

StoredOutput = dict[str, Any]


def _declared_media_type(description: OutputDescription | None) -> str | None:
    if description is None:
        return None
    media = description.schema_.get("contentMediaType")
    return str(media) if media else None


def encode_output(value: Any, description: OutputDescription | None) -> StoredOutput:
    media_type = getattr(value, "media_type", None)
    data = getattr(value, "data", None)
    if isinstance(data, bytes | bytearray) and isinstance(media_type, str):
        value = bytes(data)
    else:
        media_type = _declared_media_type(description)
    if isinstance(value, bytes | bytearray):
        return {"value": base64.b64encode(value).decode("ascii"), "encoding": "base64",
                "mediaType": media_type or "application/octet-stream"}
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if media_type and isinstance(value, str):
        return {"value": value, "mediaType": media_type}
    return {"value": value}


def encode_results(
    outputs: Mapping[str, Any], descriptions: Mapping[str, OutputDescription]
) -> bytes:
    doc = {name: encode_output(value, descriptions.get(name)) for name, value in outputs.items()}
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def decode_results(blob: bytes) -> dict[str, StoredOutput]:
    doc: dict[str, StoredOutput] = orjson.loads(blob)
    return doc


def document_value(stored: StoredOutput) -> Any:
    """An output in a results document: plain JSON values stay plain; text in a media type
    and binary stay qualified values."""
    return stored if set(stored) != {"value"} else stored["value"]


def results_document(blob: bytes) -> dict[str, Any]:
    """Every output by value, as results.yaml shapes it (what a success callback gets)."""
    return {name: document_value(stored) for name, stored in decode_results(blob).items()}


def output_bytes(stored: StoredOutput) -> tuple[bytes, str]:
    """The raw bytes of one output and their media type, for raw and reference responses."""
    value = stored.get("value")
    media_type = stored.get("mediaType")
    if stored.get("encoding") == "base64":
        return base64.b64decode(value or ""), media_type or "application/octet-stream"
    if isinstance(value, str) and media_type:
        return value.encode(), media_type
    if isinstance(value, str):
        return value.encode(), "text/plain; charset=utf-8"
    return orjson.dumps(value), "application/json"
