"""Acknowledged means replicated, when asked (`FASTPROC_REDIS_MIN_REPLICAS`): a write that
a client is told about is followed, on the same connection, by `WAIT n timeout`.

Redis replicates asynchronously: a primary that dies a moment after it answered may take
the write with it, and the replica promoted in its place never saw the job the API
acknowledged with 201. `WAIT` blocks until `n` replicas have every write this connection
made, so it rides in the same pipeline as the batch of writes it follows (one round trip;
one WAIT per batch, not per job). It does not undo anything: a write that was not confirmed
in time stays on the primary and may or may not survive a failover.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from loguru import logger
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

#: How long a WAIT may hold a batch, milliseconds: well under the Redis timeout (5 s), while
#: a replica on the same network confirms in a millisecond or two.
REPLICA_WAIT_MS = 1000


class NotReplicated(RedisError):
    """A write reached the primary but fewer replicas than required confirmed it in time:
    it may be lost if the primary fails now (the API answers 503 with Retry-After)."""

    def __init__(self, confirmed: int, required: int) -> None:
        super().__init__(f"{confirmed} of {required} replicas confirmed the write within "
                         f"{REPLICA_WAIT_MS} ms")
        self.confirmed = confirmed
        self.required = required


async def run_replicated(redis: Redis, script: AsyncScript, keys: Sequence[Any],
                         args: Sequence[Any], replicas: int, *, strict: bool = True) -> Any:
    """`script(keys, args)`, then `WAIT replicas` on the same connection; when fewer
    confirm, raises `NotReplicated` (after the script ran), or, not `strict`, logs it and
    returns the outcome (a worker's step: its task is still queued in any copy that lacks
    it, so a failover re-runs it rather than lose it). With `replicas` 0, the script
    alone, as `AsyncScript` runs it."""
    if replicas <= 0:
        return await script(keys=keys, args=args)
    outcome, confirmed = await _call_and_wait(redis, script, keys, args, replicas)
    if isinstance(outcome, NoScriptError):
        # A new primary after a failover, or a flushed script cache: the script did not
        # run; load it and send the batch again.
        script.sha = await redis.script_load(script.script)
        outcome, confirmed = await _call_and_wait(redis, script, keys, args, replicas)
    for failed in (outcome, confirmed):
        if isinstance(failed, Exception):
            raise failed
    if int(confirmed) < replicas:
        if strict:
            raise NotReplicated(int(confirmed), replicas)
        logger.warning("{}", NotReplicated(int(confirmed), replicas))
    return outcome


async def _call_and_wait(redis: Redis, script: AsyncScript, keys: Sequence[Any],
                         args: Sequence[Any], replicas: int) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        pipe.execute_command("WAIT", replicas, REPLICA_WAIT_MS)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
    return replies
