"""Inputs given by reference (`{"href": ...}`): fetched by the worker, then validated.

A fetch is bounded (time, size, redirects) and every URL on the way, redirects included,
obeys the address rules of `fastproc.net` (its client connects only to checked addresses).
What arrives is read as the input's schema says: bytes for a binary string, text for a
string, JSON for anything else.

A download is held in memory only up to `fetch_memory_bytes`; past that it goes to a
temporary file until it is complete. Otherwise every job of a worker could hold up to
`fetch_max_bytes` of chunks at once while its references trickle in.

What each reference gave (`Fetched`: where it ended, its media type, size and sha256, summed
as the chunks arrive) is handed back to the caller for the job's provenance: once the job
ran, nobody can fetch the same bytes again to find out.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Any

import anyio
import anyio.to_thread
import httpx
import orjson

from fastproc.net import AddressNotAllowed, check_url_syntax, pinned_client
from fastproc.ogc.content import is_binary
from fastproc.ogc.exceptions import InvalidParameterValue
from fastproc.ogc.inputs import InputValidator, is_reference
from fastproc.ogc.models import ProcessDescription
from fastproc.settings import Settings

MAX_REDIRECTS = 5


class Spool:
    """A download kept in memory up to `memory_bytes`, then in a temporary file."""

    def __init__(self, memory_bytes: int) -> None:
        self.memory_bytes = memory_bytes
        self.size = 0
        #: The most this spool ever held in memory while the download ran.
        self.peak_in_memory = 0
        self._memory = bytearray()
        self._file: anyio.AsyncFile[bytes] | None = None
        self.sha256 = hashlib.sha256()

    @property
    def on_disk(self) -> bool:
        return self._file is not None

    async def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.sha256.update(chunk)
        if self._file is None and len(self._memory) + len(chunk) <= self.memory_bytes:
            self._memory += chunk
            self.peak_in_memory = max(self.peak_in_memory, len(self._memory))
            return
        if self._file is None:
            self._file = anyio.wrap_file(await anyio.to_thread.run_sync(_temporary_file))
            await self._file.write(bytes(self._memory))
            self._memory = bytearray()
        await self._file.write(chunk)

    async def read(self) -> bytes:
        """Everything written: the one full copy in memory, which the input needs anyway."""
        if self._file is None:
            return bytes(self._memory)
        await self._file.seek(0)
        return await self._file.read()

    async def __aenter__(self) -> Spool:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        if self._file is not None:
            await self._file.aclose()
        self._memory = bytearray()


def _temporary_file() -> IO[bytes]:
    return tempfile.TemporaryFile(prefix="fastproc-fetch-")


@dataclass(frozen=True, slots=True)
class Fetched:
    """What one reference of a job gave."""

    input: str
    href: str
    #: The URL that answered, after redirects.
    url: str
    media_type: str | None
    size: int
    sha256: str

    def document(self) -> dict[str, object]:
        doc: dict[str, object] = {"input": self.input, "href": self.href, "url": self.url,
                                  "size": self.size, "sha256": self.sha256}
        if self.media_type:
            doc["type"] = self.media_type
        return doc


async def fetch_into(spool: Spool, client: httpx.AsyncClient, url: str,
                     settings: Settings) -> tuple[str, str | None]:
    """The body `url` answers with, after redirects, into `spool` (size-capped); the URL
    that answered and its media type."""
    for _ in range(MAX_REDIRECTS + 1):
        check_url_syntax(url, settings)
        async with client.stream("GET", url) as response:
            if response.is_redirect:
                url = str(response.url.join(response.headers["location"]))
                continue
            response.raise_for_status()
            declared = int(response.headers.get("content-length") or 0)
            if declared > settings.fetch_max_bytes:
                raise ValueError(f"it is {declared} bytes, over {settings.fetch_max_bytes} bytes")
            async for chunk in response.aiter_bytes():
                if spool.size + len(chunk) > settings.fetch_max_bytes:
                    raise ValueError(f"it is over {settings.fetch_max_bytes} bytes")
                await spool.write(chunk)
            return url, response.headers.get("content-type")
    raise ValueError(f"more than {MAX_REDIRECTS} redirects")


def _as_schema_says(data: bytes, schema: dict[str, Any]) -> Any:
    if is_binary(schema):
        return {"value": base64.b64encode(data).decode("ascii"), "encoding": "base64"}
    if schema.get("type") == "string":
        return data.decode("utf-8")
    return orjson.loads(data)


async def resolve_references(
    inputs: dict[str, Any], description: ProcessDescription, validator: InputValidator,
    settings: Settings, fetched: list[Fetched] | None = None,
) -> dict[str, Any]:
    """The inputs with every reference replaced by its validated content; what each
    reference gave is appended to `fetched`."""
    resolved = dict(inputs)
    async with pinned_client(settings, timeout=settings.fetch_timeout) as client:
        for name, value in inputs.items():
            many = isinstance(value, list)
            occurrences = []
            for occurrence in value if many else [value]:
                if is_reference(occurrence):
                    occurrence = await _fetch_one(client, name, str(occurrence["href"]),
                                                  description, validator, settings, fetched)
                occurrences.append(occurrence)
            resolved[name] = occurrences if many else occurrences[0]
    return resolved


async def _fetch_one(client: httpx.AsyncClient, name: str, href: str,
                     description: ProcessDescription, validator: InputValidator,
                     settings: Settings, fetched: list[Fetched] | None) -> Any:
    try:
        async with Spool(settings.fetch_memory_bytes) as spool:
            url, media_type = await fetch_into(spool, client, href, settings)
            value = await _read_as_schema_says(spool, description.inputs[name].schema_)
            if fetched is not None:
                fetched.append(Fetched(name, href, url, media_type, spool.size,
                                       spool.sha256.hexdigest()))
    except (httpx.HTTPError, AddressNotAllowed, ValueError) as exc:
        reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, httpx.HTTPError) else str(exc)
        raise InvalidParameterValue(f"input '{name}': cannot use {href}: {reason}") from exc
    validator.checks[name].check_occurrence(value)
    return value


async def _read_as_schema_says(spool: Spool, schema: dict[str, Any]) -> Any:
    """Small downloads are converted on the loop; a spooled one is big enough that decoding
    it there would stall every other job of the worker."""
    data = await spool.read()
    if not spool.on_disk:
        return _as_schema_says(data, schema)
    return await anyio.to_thread.run_sync(_as_schema_says, data, schema)
