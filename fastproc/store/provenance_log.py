"""A job's provenance facts that its record does not hold (`{p}:job:{id}:provenance`):
who ran it, what its references fetched, its parts' and nested processes' results, and
the job whose cached result answered it (`{p}:cache:{digest}:origin`, written with the
cache entry by `transition.lua`).

A hash of JSON values, written as the facts become known (a field each, so the worker's
start, a fan-out's merge and every nested process write without reading), and read in one
round trip by `fastproc.execution.prov_documents`.
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


#: The field of a job's record holding its run's facts (who ran it, which code, what its
#: references fetched), written by the step that ends the job, in the same Lua call.
RUN_FACTS = "run_facts"


class ProvenanceLog:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def add(self, job_id: str, facts: dict[str, Any], ttl: int) -> None:
        """Write `facts` (field -> JSON value) and give the hash `ttl` seconds."""
        key = self.keys.job_provenance(job_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={name: orjson.dumps(value) for name, value in facts.items()})
            pipe.expire(key, ttl)
            await pipe.execute()

    async def read(self, job_id: str) -> dict[str, Any]:
        """The facts recorded so far, with the run's (the record's `RUN_FACTS`); a field
        that is not JSON is left out."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.job_provenance(job_id))
            pipe.hget(self.keys.job(job_id), RUN_FACTS)
            raw, run = await pipe.execute()
        facts: dict[str, Any] = {}
        for name, value in raw.items():
            try:
                facts[name.decode(errors="replace")] = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
        try:
            found = orjson.loads(run) if run else None
        except orjson.JSONDecodeError:
            found = None
        if isinstance(found, dict):
            facts.update(found)
        return facts

    async def cache_origin(self, digest: str) -> str | None:
        """The job whose result the cache entry of `digest` holds, if known."""
        origin: bytes | None = await self.redis.get(self.keys.cache_origin(digest))
        return origin.decode(errors="replace") if origin else None
