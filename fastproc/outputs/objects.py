"""The output store behind one small interface, on `obstore` (one async API for local
files, S3-compatible stores, GCS and Azure): the only module that imports `obstore`.

Uploads are streamed in parts (`PART_BYTES`, at most `UPLOADS_IN_FLIGHT` at once: 10 MB in
flight whatever the size of the output) and hashed on the way; downloads are streamed in
chunks of `CHUNK_BYTES`. Object keys are random (`new_key`), never built from caller text.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import ObjectStore, S3Store, from_url

#: Size of the parts of a multipart upload (S3 wants at least 5 MiB but for the last).
PART_BYTES = 5 * 1024 * 1024
#: Parts uploaded at once: bounds what one upload holds in memory.
UPLOADS_IN_FLIGHT = 2
#: Chunks a download is read in.
CHUNK_BYTES = 1024 * 1024
#: A request to a remote store is retried this often, within this many seconds, before
#: the job fails (or the worker does not start): a store that is down is found in seconds.
STORE_RETRIES = 3
STORE_RETRY_SECONDS = 20
#: Where the objects go under the store's URL.
KEY_PREFIX = "outputs"
#: What obstore raises for a missing object (a local store raises the OS's error).
_GONE = (NotFoundError, FileNotFoundError)


class OutputStoreError(Exception):
    """The output store refused an operation, or cannot be reached."""


@dataclass(frozen=True, slots=True)
class Uploaded:
    size: int
    sha256: str


def new_key() -> str:
    """A fresh object key: 192 random bits, so no one finds an object by guessing."""
    return f"{KEY_PREFIX}/{secrets.token_hex(24)}"


def _is_local(url: str) -> bool:
    return urlsplit(url).scheme == "file"


class OutputStore:
    """Objects of outputs: put (streamed), read (streamed, or a range), delete, sign."""

    def __init__(self, store: ObjectStore, url: str, *, presign: bool = False) -> None:
        self._store = store
        self.url = url
        #: `reference` links are presigned URLs of the store (`FASTPROC_OUTPUT_LINKS`),
        #: when it can sign them.
        self.presign = presign and isinstance(store, S3Store)

    @classmethod
    def from_url(cls, url: str, *, presign: bool = False) -> OutputStore:
        """The store at `url`, credentials from the usual environment variables of each
        cloud (`AWS_*`, `GOOGLE_*`, `AZURE_*`); a local directory is created if missing.
        `OutputStoreError` if the URL names no store obstore knows."""
        try:
            if _is_local(url):
                Path(urlsplit(url).path).mkdir(parents=True, exist_ok=True)
                store: ObjectStore = from_url(url, mkdir=True)
            else:
                store = from_url(url, retry_config={
                    "max_retries": STORE_RETRIES,
                    "retry_timeout": timedelta(seconds=STORE_RETRY_SECONDS)})
        except (BaseError, ValueError, OSError) as exc:
            raise OutputStoreError(f"FASTPROC_OUTPUT_STORE {url!r} is not a usable store "
                                   f"URL: {_first_line(exc)}") from exc
        return cls(store, url, presign=presign)

    async def check(self) -> None:
        """Write, read and delete a probe object: wrong credentials, a missing bucket or an
        unreachable endpoint are found at start, not by the first large output."""
        key = f"{KEY_PREFIX}/probe-{secrets.token_hex(8)}"
        try:
            await obstore.put_async(self._store, key, b"probe")
            await obstore.get_range_async(self._store, key, start=0, length=5)
            await obstore.delete_async(self._store, key)
        except (BaseError, OSError) as exc:
            raise OutputStoreError(f"the output store {self.url!r} is not usable: "
                                   f"{_first_line(exc)}") from exc

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> Uploaded:
        """Upload `chunks` as one object, in parts, hashing them on the way."""
        digest = hashlib.sha256()
        size = 0

        async def hashed() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        try:
            await obstore.put_async(self._store, key, hashed(), chunk_size=PART_BYTES,
                                    max_concurrency=UPLOADS_IN_FLIGHT)
        except (BaseError, OSError) as exc:
            raise OutputStoreError(f"the output store refused the object: "
                                   f"{_first_line(exc)}") from exc
        return Uploaded(size, digest.hexdigest())

    async def stream(self, key: str, start: int = 0) -> AsyncIterator[bytes]:
        """The object's bytes from `start`, in chunks; `LookupError` if it is gone."""
        try:
            result = await obstore.get_async(
                self._store, key, options={"range": {"offset": start}} if start else None)
            async for chunk in result.stream(min_chunk_size=CHUNK_BYTES):
                yield bytes(chunk)
        except _GONE as exc:
            raise LookupError(f"object {key} is gone") from exc
        except (BaseError, OSError) as exc:
            raise OutputStoreError(f"the output store failed a read: "
                                   f"{_first_line(exc)}") from exc

    async def head_bytes(self, key: str, length: int) -> bytes | None:
        """The first `length` bytes of the object (fewer if it is shorter); None if gone."""
        try:
            size = (await obstore.head_async(self._store, key))["size"]
            if size == 0:
                return b""
            return bytes(await obstore.get_range_async(self._store, key, start=0,
                                                       end=min(length, size)))
        except _GONE:
            return None
        except (BaseError, OSError) as exc:
            raise OutputStoreError(f"the output store failed a read: "
                                   f"{_first_line(exc)}") from exc

    async def size_of(self, key: str) -> int | None:
        """The object's size; None if it is gone."""
        try:
            return int((await obstore.head_async(self._store, key))["size"])
        except _GONE:
            return None
        except (BaseError, OSError) as exc:
            raise OutputStoreError(f"the output store failed a read: "
                                   f"{_first_line(exc)}") from exc

    async def delete(self, keys: list[str]) -> None:
        """Delete these objects; one already gone is no error (a sweep may race a
        dismissal)."""
        for key in keys:
            try:
                await obstore.delete_async(self._store, key)
            except _GONE:
                continue
            except (BaseError, OSError) as exc:
                raise OutputStoreError(f"the output store refused a delete: "
                                       f"{_first_line(exc)}") from exc

    async def signed_url(self, key: str, lifetime: float) -> str:
        """A presigned GET URL of the object, valid for `lifetime` seconds."""
        if not isinstance(self._store, S3Store):
            raise OutputStoreError("this output store cannot presign URLs")
        try:
            return await obstore.sign_async(self._store, "GET", key,
                                            timedelta(seconds=lifetime))
        except BaseError as exc:
            raise OutputStoreError(f"the output store could not sign a URL: "
                                   f"{_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    """obstore's messages run over many lines (the Rust error chain): the first says it."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
