"""A pub/sub subscription that survives Redis going away: resubscribe with backoff, and
tell the owner each time it is (re)connected, since messages sent meanwhile are lost."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError


async def listen_forever(redis: Redis, channel: str, on_message: Callable[[bytes], None],
                         on_connected: Callable[[], None], what: str) -> None:
    """Deliver every message of `channel` until cancelled."""
    backoff = 0.1
    while True:
        try:
            async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(channel)
                backoff = 0.1
                on_connected()
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        on_message(message["data"])
        except (RedisError, OSError) as exc:
            logger.warning("{} subscription lost ({}); retrying in {:.1f}s", what, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
