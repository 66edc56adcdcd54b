"""The process catalogue in Redis: workers publish descriptions, API replicas read them.

An API replica therefore serves (and validates inputs for) processes whose code and heavy
dependencies it never imports.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel
from redis.asyncio import Redis

from fastproc.keys import Keys
from fastproc.ogc.inputs import InputValidator
from fastproc.ogc.models import ProcessDescription


class CatalogueEntry(BaseModel):
    description: ProcessDescription
    queue: str
    deterministic: bool = False
    uncached_inputs: list[str] = []


@dataclass(slots=True)
class CataloguedProcess:
    """A published process with what the API derives from it once, not per request."""

    entry: CatalogueEntry
    validator: InputValidator
    summary: dict[str, Any]
    document: dict[str, Any]

    @classmethod
    def of(cls, entry: CatalogueEntry) -> CataloguedProcess:
        return cls(entry, InputValidator(entry.description), entry.description.summary(),
                   entry.description.dump())

    @property
    def description(self) -> ProcessDescription:
        return self.entry.description


async def publish(redis: Redis, keys: Keys, entries: Iterable[CatalogueEntry]) -> None:
    mapping = {e.description.id: e.model_dump_json(by_alias=True) for e in entries}
    if mapping:
        await redis.hset(keys.processes, mapping=mapping)


class Catalogue:
    """A cached view of `{p}:processes`, refreshed at most every `refresh` seconds.

    Validators are compiled once per description and kept while it is unchanged.
    """

    def __init__(self, redis: Redis, keys: Keys, refresh: float) -> None:
        self.redis = redis
        self.keys = keys
        self.refresh = refresh
        self._loaded_at = float("-inf")
        self._raw: dict[bytes, bytes] = {}
        self._processes: dict[str, CataloguedProcess] = {}

    async def _load(self) -> None:
        if time.monotonic() - self._loaded_at < self.refresh:
            return
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.keys.processes)
        if raw != self._raw:
            fresh: dict[str, CataloguedProcess] = {}
            for pid, blob in raw.items():
                old = self._processes.get(pid.decode())
                if old is not None and self._raw.get(pid) == blob:
                    fresh[pid.decode()] = old
                    continue
                entry = CatalogueEntry.model_validate(orjson.loads(blob))
                fresh[pid.decode()] = CataloguedProcess.of(entry)
            self._processes = fresh
            self._raw = raw
        self._loaded_at = time.monotonic()

    async def all(self) -> list[CataloguedProcess]:
        await self._load()
        return sorted(self._processes.values(), key=lambda p: p.description.id)

    async def get(self, process_id: str) -> CataloguedProcess | None:
        await self._load()
        found = self._processes.get(process_id)
        if found is None and self.refresh > 0:
            # A worker may have just published it: look once more before saying 404.
            self._loaded_at = float("-inf")
            await self._load()
            found = self._processes.get(process_id)
        return found
