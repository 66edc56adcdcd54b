"""What every task of a worker shares: settings, processes, the job store, the connection."""

from __future__ import annotations

from dataclasses import dataclass

from arq.connections import ArqRedis

from fastproc.authoring.fanout import FanOutProcess
from fastproc.authoring.process import BaseProcess
from fastproc.authoring.registry import Registry
from fastproc.catalogue import CatalogueEntry
from fastproc.jobs.record import JobRecord
from fastproc.jobs.store import JobStore
from fastproc.keys import Keys
from fastproc.settings import Settings

CTX_KEY = "fastproc"


@dataclass(slots=True)
class Runtime:
    settings: Settings
    registry: Registry
    redis: ArqRedis
    keys: Keys
    store: JobStore

    @classmethod
    def build(cls, settings: Settings, registry: Registry, redis: ArqRedis) -> Runtime:
        keys = Keys(settings.key_prefix)
        store = JobStore(redis, keys, job_ttl=settings.job_ttl,
                         active_ttl=settings.active_job_ttl)
        return cls(settings, registry, redis, keys, store)

    def queue_of(self, proc: BaseProcess) -> str:
        return proc.queue or self.settings.queue_name

    def soft_limit(self, proc: BaseProcess) -> float:
        return proc.timeout or self.settings.job_timeout

    async def complete(self, record: JobRecord, proc: BaseProcess, blob: bytes) -> bool:
        """Mark a job successful with its results, caching them if the process allows."""
        cache_key = (self.keys.cache(record.cache_key)
                     if proc.deterministic and record.cache_key else None)
        return await self.store.mark_successful(
            record.job_id, blob, cache_key=cache_key, cache_ttl=self.settings.cache_ttl,
            fanned_out=isinstance(proc, FanOutProcess))

    def catalogue_entries(self) -> list[CatalogueEntry]:
        return [
            CatalogueEntry(description=p.description, queue=self.queue_of(p),
                           deterministic=p.deterministic)
            for p in self.registry
        ]
