"""The process catalogue in Redis: workers report what they serve, API replicas read it.

An API replica therefore serves (and validates inputs for) processes whose code and heavy
dependencies it never imports. The catalogue forgets: a worker's report holds for
`FASTPROC_CATALOGUE_TTL` seconds and its heartbeat renews it every third of that, so the
API lists only what some live worker serves. A process no worker serves any more is
answered 503 on execution (and 404 when described) until it is forgotten, once nothing
reported it for as long as any of its jobs may live.

Keys (all under `{p}:processes`, each with a TTL pushed back by every report):
`{p}:processes` (hash id -> entry JSON), `{p}:processes:served` (sorted set id -> until when,
ms) and `{p}:processes:workers` (sorted set worker id -> until when, ms); the scripts that
write and read them are `store/lua/catalogue_report.lua` and `catalogue_read.lua`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from loguru import logger
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from fastproc.ogc.exceptions import ServiceUnavailable
from fastproc.ogc.inputs import InputValidator
from fastproc.ogc.models import ProcessDescription
from fastproc.store.scripts import plain
from fastproc.wire.keys import Keys


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


class ProcessNotServed(ServiceUnavailable):
    """A process the catalogue knows but no live worker serves: a job of it would queue
    for nobody."""


class Registration:
    """A worker's entry in the catalogue: reported at start, renewed by a heartbeat every
    third of `ttl`, withdrawn at a clean stop (a killed worker's lapses after `ttl`)."""

    def __init__(self, redis: Redis, keys: Keys, entries: Iterable[CatalogueEntry], *,
                 ttl: float, retention: int) -> None:
        self.redis = redis
        self.keys = keys
        self.worker_id = uuid.uuid4().hex
        self.ttl = ttl
        self.retention = max(retention, int(ttl) + 1)
        self._pairs: list[str] = []
        for e in entries:
            self._pairs += [e.description.id, e.model_dump_json(by_alias=True)]
        self._heartbeat: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Report (overwriting older descriptions of the same ids), then keep reporting."""
        await self._report(overwrite=True)
        self._heartbeat = asyncio.create_task(self._beat(), name="fastproc-catalogue")

    async def stop(self) -> None:
        """Stop reporting and leave the live workers (what it served lapses with `ttl`:
        other workers may serve the same processes)."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        with contextlib.suppress(RedisError, OSError):
            await self.redis.zrem(self.keys.processes_workers, self.worker_id)

    async def _report(self, *, overwrite: bool) -> None:
        await self.redis.eval(
            plain("catalogue_report"), 3, self.keys.processes, self.keys.processes_served,
            self.keys.processes_workers, str(int(self.ttl * 1000)), str(self.retention),
            self.worker_id, "1" if overwrite else "0", *self._pairs)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self._report(overwrite=False)
            except (RedisError, OSError) as exc:  # Redis away: try again at the next beat
                logger.warning("cannot renew this worker's catalogue entry ({})", exc)


async def forget_served(redis: Redis, keys: Keys) -> None:
    """Forget which processes live workers serve, keeping their descriptions (the pages of
    past jobs still show them): for a server that owns its catalogue, such as `fastproc
    dev`, whose previous run served other modules. Until its own worker reports, nothing is
    listed; a process the previous run served is known but not served (503), never listed
    and executed by a worker that cannot run it."""
    await redis.delete(keys.processes_served, keys.processes_workers)


class Catalogue:
    """A cached view of what live workers serve, refreshed at most every `refresh` seconds.

    Validators are compiled once per description and kept while it is unchanged.
    """

    def __init__(self, redis: Redis, keys: Keys, refresh: float) -> None:
        self.redis = redis
        self.keys = keys
        self.refresh = refresh
        self._loaded_at = float("-inf")
        self._raw: dict[bytes, bytes] = {}
        self._known: dict[str, CataloguedProcess] = {}
        self._live: set[str] = set()

    async def _load(self) -> None:
        if time.monotonic() - self._loaded_at < self.refresh:
            return
        live, flat = await self.redis.eval(
            plain("catalogue_read"), 2, self.keys.processes, self.keys.processes_served)
        raw: dict[bytes, bytes] = dict(zip(flat[::2], flat[1::2], strict=True))
        if raw != self._raw:
            fresh: dict[str, CataloguedProcess] = {}
            for pid, blob in raw.items():
                old = self._known.get(pid.decode())
                if old is not None and self._raw.get(pid) == blob:
                    fresh[pid.decode()] = old
                    continue
                entry = CatalogueEntry.model_validate(orjson.loads(blob))
                fresh[pid.decode()] = CataloguedProcess.of(entry)
            self._known = fresh
            self._raw = raw
        self._live = {pid.decode() for pid in live} & self._known.keys()
        self._loaded_at = time.monotonic()

    async def all(self) -> list[CataloguedProcess]:
        """The processes some live worker serves, by id."""
        await self._load()
        return sorted((self._known[pid] for pid in self._live), key=lambda p: p.description.id)

    async def get(self, process_id: str) -> CataloguedProcess | None:
        """The process, if some live worker serves it."""
        await self._load()
        if process_id not in self._live and self.refresh > 0:
            # A worker may have just published it: look once more before saying 404.
            self._loaded_at = float("-inf")
            await self._load()
        return self._known[process_id] if process_id in self._live else None

    async def executable(self, process_id: str) -> CataloguedProcess | None:
        """The process to execute: None if unknown; `ProcessNotServed` (503) if it is known
        but no live worker serves it any more, since its job would queue for nobody."""
        found = await self.get(process_id)
        if found is None and process_id in self._known:
            raise ProcessNotServed(
                f"process '{process_id}' is not served by any running worker at the moment; "
                "it runs again once a worker serving it starts")
        return found

    async def known(self, process_id: str) -> CataloguedProcess | None:
        """The last description of the process, served or not (until it is forgotten):
        for pages about its past jobs."""
        await self._load()
        return self._known.get(process_id)
