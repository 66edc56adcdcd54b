"""Values handed from one task to the next through Redis — a fan-out part's result to its
merge, a workflow node's value to its parent — kept out of Redis when they are large.

A value whose JSON is over the inline limit is uploaded to the output store, and Redis
keeps its descriptor (`{"fastproc:object": key, "size": n, "sha256": hex}`, a few dozen
bytes) where the value would have been. The task that takes the values reads them back
from the store, all of them together within the result limit (it holds them, parsed, to
run its process), and checks each against its digest. Each object is entered in the
expiry index before it is written, until the join or workflow keys it belongs to would
have expired: one whose reader never comes (a crash, a dismissal) is swept then.

A process's value could look like a descriptor (an echo of its input, say): every value
that has a top-level `fastproc:object` or `fastproc:escaped` member is stored wrapped as
`{"fastproc:escaped": value}` and unwrapped when read, so a descriptor in Redis is always
one this module wrote, and no input makes a task read an object it was not handed.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import orjson
from loguru import logger

from fastproc.ogc.exceptions import ProcessError
from fastproc.outputs.objects import KEY_PREFIX, OutputStore, OutputStoreError, new_key
from fastproc.store.output_index import OutputIndex

#: The member that marks a descriptor of a value in the output store.
HANDED = "fastproc:object"
#: The member that wraps a value which would otherwise be taken for a descriptor.
ESCAPED = "fastproc:escaped"
_KEY = re.compile(rf"{KEY_PREFIX}/[0-9a-f]{{48}}")


def handed_key(value: Any) -> str | None:
    """The object key of a value's descriptor; None for a value held in Redis."""
    if not isinstance(value, dict) or set(value) != {HANDED, "size", "sha256"}:
        return None
    key = value[HANDED]
    return key if isinstance(key, str) and _KEY.fullmatch(key) else None


class Handoff:
    """Puts values over `inline_limit` in the output store (with none configured, every
    value stays in Redis) and reads them back within `read_limit` bytes in all."""

    def __init__(self, store: OutputStore | None, index: OutputIndex, inline_limit: int,
                 read_limit: int) -> None:
        self.store = store
        self.index = index
        self.inline_limit = inline_limit
        self.read_limit = read_limit

    async def put(self, value: Any, lifetime: float, what: str) -> bytes:
        """The JSON of `value`, or of its descriptor once uploaded; `lifetime`: seconds
        its reader may take to come. `ProcessError` if it is over the read limit (no
        reader could take it) or the store refuses it."""
        encoded = orjson.dumps(_escaped(value))
        if len(encoded) > self.read_limit:
            raise ProcessError(f"{what} is {len(encoded)} bytes, over the limit of "
                               f"{self.read_limit} (FASTPROC_MAX_RESULT_BYTES)")
        if self.store is None or len(encoded) <= self.inline_limit:
            return encoded
        key = new_key()
        await self.index.schedule([key], int((time.time() + lifetime) * 1000))
        try:
            uploaded = await self.store.put(key, _one(encoded))
        except OutputStoreError as exc:
            raise ProcessError(f"{what} could not be stored: {exc}") from exc
        return orjson.dumps({HANDED: key, "size": uploaded.size, "sha256": uploaded.sha256})

    async def read(self, values: Mapping[str, Any], what: str) -> dict[str, Any]:
        """`values` with each descriptor replaced by the value it describes. `ProcessError`
        if together they are over the read limit (nothing is read then), or an object is
        gone or not what was stored."""
        handed = {name: value for name, value in values.items()
                  if handed_key(value) is not None}
        read = {name: _unescaped(value) for name, value in values.items()}
        if not handed:
            return read
        total = sum(int(value["size"]) for value in handed.values())
        if total > self.read_limit:
            raise ProcessError(f"{what} are {total} bytes, over the limit of "
                               f"{self.read_limit} (FASTPROC_MAX_RESULT_BYTES)")
        if self.store is None:
            raise ProcessError(f"{what} are in the output store, and this worker has none "
                               "(FASTPROC_OUTPUT_STORE)")
        for name, value in handed.items():
            read[name] = _unescaped(orjson.loads(await self._object(self.store, value, what)))
        return read

    async def _object(self, store: OutputStore, value: dict[str, Any], what: str) -> bytes:
        key, size = str(value[HANDED]), int(value["size"])
        chunks: list[bytes] = []
        held = 0
        try:
            async for chunk in store.stream(key):
                held += len(chunk)
                if held > size:
                    break
                chunks.append(chunk)
        except LookupError as exc:
            raise ProcessError(f"{what}: a stored value is gone (expired or removed)") from exc
        except OutputStoreError as exc:
            raise ProcessError(f"{what} could not be read: {exc}") from exc
        data = b"".join(chunks)
        if held != size or hashlib.sha256(data).hexdigest() != value["sha256"]:
            raise ProcessError(f"{what}: a stored value is not the one that was written")
        return data

    async def drop(self, values: Iterable[Any]) -> None:
        """Delete the objects of these values' descriptors, and their index entries (their
        reader is done with them)."""
        keys = [key for value in values if (key := handed_key(value)) is not None]
        if keys and self.store is not None:
            try:
                await self.store.delete(keys)
            except OutputStoreError as exc:
                # The outcome they served is stored: the sweep deletes them at their deadline.
                logger.warning("objects {} left to the sweep: {}", keys, exc)
                return
            await self.index.forget(keys)


def _escaped(value: Any) -> Any:
    if isinstance(value, dict) and (HANDED in value or ESCAPED in value):
        return {ESCAPED: value}
    return value


def _unescaped(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and ESCAPED in value:
        return value[ESCAPED]
    return value


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data
