"""The result cache of deterministic processes: a canonical key, and a get.

Entries are written by the worker in the same atomic step that marks a job successful
(see `JobStore.mark_successful`), so a failed job can never be cached.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from redis.asyncio import Redis

from fastproc.jobs.store import STATS_TTL
from fastproc.keys import Keys


def cache_digest(
    process_id: str,
    version: str,
    inputs: dict[str, Any],
    outputs: dict[str, Any] | None,
    response: str,
    owner: str | None = None,
) -> str:
    """sha256 of the canonical JSON (sorted keys) of what determines a result.

    Inputs are taken as received, so the key never depends on processed data; a new
    process version changes every key. With access control on, the owner is part of the
    key: a hit would otherwise tell one caller what another submitted.
    """
    document: dict[str, Any] = {"process": process_id, "version": version, "inputs": inputs,
                                "outputs": outputs, "response": response}
    if owner is not None:
        document["owner"] = owner
    canonical = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


# KEYS: 1 entry, 2 stats; ARGV: 1 stats field, 2 stats TTL. The entry, counting the hit in
# the same call (the count may create the stats hash, so it gets its TTL too).
_LOOKUP = """
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return value
"""


class ResultCache:
    def __init__(self, redis: Redis, keys: Keys, ttl: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl = ttl
        self._lookup = redis.register_script(_LOOKUP)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    async def get(self, digest: str, process_id: str) -> bytes | None:
        value: bytes | None = await self._lookup(
            keys=[self.keys.cache(digest), self.keys.stats],
            args=[f"cachehit|{process_id}", STATS_TTL])
        return value
