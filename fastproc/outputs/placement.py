"""Where each output of a process goes: small ones stay values (the result document in
Redis), large ones go to the output store.

A process may return `bytes`, a `pathlib.Path` (a file it wrote) or an async iterator of
bytes for a binary output. A file or an iterator is never read whole into memory when a
store is configured: what exceeds `inline_limit` is uploaded in parts as it is read. Without
a store, they are read into bytes (bounded by the result limit), and behave as bytes.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import anyio.to_thread

from fastproc.ogc.exceptions import ProcessError
from fastproc.ogc.media import is_media_type
from fastproc.ogc.models import OutputDescription
from fastproc.outputs.objects import CHUNK_BYTES, OutputStore, OutputStoreError, new_key
from fastproc.store.output_index import OutputIndex
from fastproc.store.result_document import ObjectRef

OCTET_STREAM = "application/octet-stream"


def is_stream(value: Any) -> bool:
    """A value that is read rather than held: a file path or an async iterator of bytes."""
    return isinstance(value, Path | AsyncIterable)


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    """A file's bytes in chunks, read in a thread so the loop never waits on the disk."""
    handle: BinaryIO = await anyio.to_thread.run_sync(path.open, "rb")
    try:
        while chunk := await anyio.to_thread.run_sync(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        await anyio.to_thread.run_sync(handle.close)


def _chunks_of(value: Path | AsyncIterable[Any], name: str) -> AsyncIterator[bytes]:
    if isinstance(value, Path):
        return file_chunks(value)
    return _checked(value, name)


async def _checked(chunks: AsyncIterable[Any], name: str) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise ProcessError(f"output '{name}' yielded a {type(chunk).__name__}, "
                               "not bytes")
        yield bytes(chunk)


async def _head(chunks: AsyncIterator[bytes], limit: int) -> tuple[list[bytes], bool]:
    """The first chunks, until more than `limit` bytes are read; whether the stream ended."""
    head: list[bytes] = []
    held = 0
    async for chunk in chunks:
        head.append(chunk)
        held += len(chunk)
        if held > limit:
            return head, False
    return head, True


async def _then(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    async for chunk in rest:
        yield chunk


async def read_whole(value: Path | AsyncIterable[Any], name: str, limit: int) -> bytes:
    """A streamed output as bytes (no store configured); more than `limit` fails it."""
    head, ended = await _head(_chunks_of(value, name), limit)
    if not ended:
        raise ProcessError(f"output '{name}' is over the limit of {limit} bytes "
                           "(FASTPROC_MAX_RESULT_BYTES; FASTPROC_OUTPUT_STORE takes "
                           "larger outputs)")
    return b"".join(head)


def _media_type(value: Any, description: OutputDescription | None, name: str) -> str:
    media = getattr(value, "media_type", None)
    if not isinstance(media, str):
        declared = description.schema_.get("contentMediaType") if description else None
        media = str(declared) if declared else OCTET_STREAM
    if not is_media_type(media):
        raise ValueError(f"output '{name}' is in {media!r}, which is not a media type "
                         "(RFC 9110: type/subtype, then ; name=value parameters)")
    return media


class Placement:
    """Uploads a job's large outputs, entering each object in the expiry index first."""

    def __init__(self, store: OutputStore, index: OutputIndex, inline_limit: int) -> None:
        self.store = store
        self.index = index
        self.inline_limit = inline_limit

    async def place(self, outputs: Mapping[str, Any],
                    descriptions: Mapping[str, OutputDescription],
                    upload_window: float) -> dict[str, Any]:
        """The outputs with each large binary one replaced by its `ObjectRef`.
        `upload_window`: seconds the uploads may take; an object left by a worker that
        died meanwhile is deleted by the first sweep after that."""
        placed: dict[str, Any] = {}
        for name, value in outputs.items():
            placed[name] = await self._place_one(name, value, descriptions.get(name),
                                                 upload_window)
        return placed

    async def _place_one(self, name: str, value: Any, description: OutputDescription | None,
                         upload_window: float) -> Any:
        data = getattr(value, "data", value)
        if isinstance(data, bytes | bytearray):
            if len(data) <= self.inline_limit:
                return value
            return await self._upload(name, _then([bytes(data)], _empty()),
                                      _media_type(value, description, name), upload_window)
        if not is_stream(value):
            return value
        media = _media_type(value, description, name)
        chunks = _chunks_of(value, name)
        head, ended = await _head(chunks, self.inline_limit)
        if ended:
            return b"".join(head)
        return await self._upload(name, _then(head, chunks), media, upload_window)

    async def _upload(self, name: str, chunks: AsyncIterator[bytes], media_type: str,
                      upload_window: float) -> ObjectRef:
        key = new_key()
        await self.index.schedule([key], int((time.time() + upload_window) * 1000))
        try:
            uploaded = await self.store.put(key, chunks)
        except OutputStoreError as exc:
            raise ProcessError(f"output '{name}' could not be stored: {exc}") from exc
        return ObjectRef(key, uploaded.size, media_type, uploaded.sha256)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield
