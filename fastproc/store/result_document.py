"""The stored result document: every output as a qualified value.

`{output_id: {"value": <json>}}` for JSON values, `{"value": <text>, "mediaType": ...}` for
text in a media type, and `{"value": <base64>, "encoding": "base64", "mediaType": ...}` for
bytes. The worker encodes it once; the API renders it as raw, document or reference.

Binary outputs larger than `inline_output_bytes` are stored apart, as raw bytes in their own
key (`{"mediaType": ..., "size": n, "apart": true}` in the document): a 50 MB image is then
never base64-encoded, parsed or copied on its way to a client asking for it raw or by
reference.

With an output store (`fastproc.outputs`), such outputs go to the store instead: the
document then holds `{"mediaType", "size", "apart": true, "object": key, "sha256": hex}`,
and Redis never holds their bytes. The worker uploads them before encoding and hands them
in as `ObjectRef`s.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel

from fastproc.ogc.media import REL_RESULTS, is_media_type
from fastproc.ogc.models import OutputDescription

StoredOutput = dict[str, Any]
APART = "apart"
OBJECT = "object"
#: The member of a job's stored request holding the public URL it was submitted at (kept
#: when it has a subscriber): a worker links the outputs of its success callback with it.
LINK_BASE = "linkBase"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """An output already uploaded to the output store under `key` (random, never built
    from anything a caller sent)."""

    key: str
    size: int
    media_type: str
    sha256: str


@dataclass(slots=True)
class EncodedResult:
    """What a worker stores for a successful job."""

    document: bytes
    apart: dict[str, bytes] = field(default_factory=dict)
    #: Object keys of the outputs in the output store (not counted in `size`: they are
    #: not in Redis).
    objects: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.document) + sum(len(data) for data in self.apart.values())


def is_apart(stored: StoredOutput) -> bool:
    return bool(stored.get(APART))


def object_key(stored: StoredOutput) -> str | None:
    """The key of an output held by the output store; None for one in Redis."""
    key = stored.get(OBJECT)
    return key if isinstance(key, str) else None


def object_keys(blob: bytes | None) -> list[str]:
    """Every object key a result document points at."""
    stored = decode_results(blob) if blob else {}
    return [key for out in stored.values() if (key := object_key(out)) is not None]


def _declared_media_type(description: OutputDescription | None) -> str | None:
    if description is None:
        return None
    media = description.schema_.get("contentMediaType")
    return str(media) if media else None


def _binary(value: Any, description: OutputDescription | None) -> tuple[bytes | None, str | None]:
    media_type = getattr(value, "media_type", None)
    data = getattr(value, "data", None)
    if isinstance(data, bytes | bytearray) and isinstance(media_type, str):
        return bytes(data), media_type
    media_type = _declared_media_type(description)
    if isinstance(value, bytes | bytearray):
        return bytes(value), media_type or "application/octet-stream"
    return None, media_type


def encode_output(value: Any, description: OutputDescription | None) -> StoredOutput:
    data, media_type = _binary(value, description)
    if data is not None:
        return {"value": base64.b64encode(data).decode("ascii"), "encoding": "base64",
                "mediaType": media_type}
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if media_type and isinstance(value, str):
        return {"value": value, "mediaType": media_type}
    return {"value": value}


def encode_results(
    outputs: Mapping[str, Any], descriptions: Mapping[str, OutputDescription],
    inline_limit: int | None = None,
) -> EncodedResult:
    """The result document of these outputs (and the outputs stored apart). An output's
    media type goes into the Content-Type of every answer that carries it: one that is not
    a media type (a line break in it would end the header) fails the job here, where the
    process that returned it is known, rather than every fetch of its result."""
    doc: dict[str, StoredOutput] = {}
    apart: dict[str, bytes] = {}
    objects: list[str] = []
    for name, value in outputs.items():
        if isinstance(value, ObjectRef):
            objects.append(value.key)
            doc[name] = {"mediaType": value.media_type, "size": value.size, APART: True,
                         OBJECT: value.key, "sha256": value.sha256}
            continue
        data, media_type = _binary(value, descriptions.get(name))
        if media_type is not None and (data is not None or isinstance(value, str)) and \
                not is_media_type(media_type):
            raise ValueError(f"output '{name}' is in {media_type!r}, which is not a media "
                             "type (RFC 9110: type/subtype, then ; name=value parameters)")
        if data is not None and inline_limit is not None and len(data) > inline_limit:
            apart[name] = data
            doc[name] = {"mediaType": media_type, "size": len(data), APART: True}
        else:
            doc[name] = encode_output(value, descriptions.get(name))
    return EncodedResult(orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY), apart, objects)


def qualified_binary(data: bytes, media_type: str) -> StoredOutput:
    """An output stored apart, as a results document carries it by value."""
    return {"value": base64.b64encode(data).decode("ascii"), "encoding": "base64",
            "mediaType": media_type}


def base64_length(size: int) -> int:
    """Characters of the base64 of `size` bytes (padded)."""
    return 4 * ((size + 2) // 3)


async def base64_chunks(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The base64 of a stream, encoded as it is read: each piece encodes a multiple of 3
    bytes and carries the rest to the next, so the pieces join to the base64 of the whole
    and no one holds more than a chunk of it."""
    carry = b""
    async for chunk in chunks:
        data = carry + chunk if carry else chunk
        cut = len(data) - len(data) % 3
        carry = data[cut:]
        if cut:
            yield base64.b64encode(memoryview(data)[:cut])
    if carry:
        yield base64.b64encode(carry)


def output_link(base: str, job_id: str, name: str, media_type: str) -> dict[str, str]:
    """A link to an output at the API's output route (which checks who asks for it)."""
    return {"href": f"{base}/jobs/{job_id}/results/{name}", "rel": REL_RESULTS,
            "type": media_type, "title": name}


def decode_results(blob: bytes) -> dict[str, StoredOutput]:
    doc: dict[str, StoredOutput] = orjson.loads(blob)
    return doc


def document_value(stored: StoredOutput) -> Any:
    """An output in a results document: plain JSON values stay plain; text in a media type,
    binary and JSON objects stay qualified values (results.yaml has no bare object but a
    bounding box: a bare one could not be told from a qualified value or a link)."""
    if set(stored) != {"value"}:
        return stored
    value = stored["value"]
    if isinstance(value, dict) and "bbox" not in value:
        return stored
    return value


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
