"""A job's provenance facts that its record does not hold (`{p}:job:{id}:provenance`):
who ran it, what its references fetched, its parts' and nested processes' results, and
the job whose cached result answered it (`{p}:cache:{digest}:origin`, written with the
cache entry by `transition.lua`).

A hash of JSON values, written as the facts become known (a field each, so the worker's
start, a fan-out's merge and every nested process write without reading), and read in one
round trip by `fastproc.execution.provenance`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from redis.asyncio import Redis

from fastproc.wire.keys import Keys


def json_digest(value: Any) -> str:
    """sha256 over canonical JSON (sorted keys, no spaces): what a value given in JSON, a
    part's result or a nested process's output is known by."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


class ProvenanceLog:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def write(self, job_id: str, facts: dict[str, Any],
              ttl: int) -> tuple[str, dict[str, bytes], int]:
        """`facts` (field -> JSON value) as a hash write (key, fields, TTL), for a step of
        the job to carry in its own round trip (`JobStore.complete`, `fail`)."""
        return (self.keys.job_provenance(job_id),
                {name: orjson.dumps(value) for name, value in facts.items()}, ttl)

    async def add(self, job_id: str, facts: dict[str, Any], ttl: int) -> None:
        """Write `facts` (field -> JSON value) and give the hash `ttl` seconds."""
        key, mapping, ttl = self.write(job_id, facts, ttl)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=mapping)
            pipe.expire(key, ttl)
            await pipe.execute()

    async def read(self, job_id: str) -> dict[str, Any]:
        """The facts recorded so far; a field that is not JSON is left out."""
        raw: dict[bytes, bytes] = await self.redis.hgetall(self.keys.job_provenance(job_id))
        facts: dict[str, Any] = {}
        for name, value in raw.items():
            try:
                facts[name.decode(errors="replace")] = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
        return facts

    async def cache_origin(self, digest: str) -> str | None:
        """The job whose result the cache entry of `digest` holds, if known."""
        origin: bytes | None = await self.redis.get(self.keys.cache_origin(digest))
        return origin.decode(errors="replace") if origin else None
