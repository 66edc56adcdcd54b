"""A pub/sub subscription that survives Redis going away: resubscribe with backoff, and
tell the owner each time it is (re)connected, since messages sent meanwhile are lost.

Anyone who can publish on the channel can send anything, so a message its owner cannot
handle is logged and dropped: one bad message must never end the subscription."""

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
                        _deliver(on_message, message["data"], what)
        except (RedisError, OSError) as exc:
            logger.warning("{} subscription lost ({}); retrying in {:.1f}s", what, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


def _deliver(on_message: Callable[[bytes], None], data: bytes, what: str) -> None:
    try:
        on_message(data)
    except Exception as exc:  # a hostile or malformed message: drop it, keep listening
        logger.warning("dropped a malformed {} message ({}: {}): {!r}", what,
                       type(exc).__name__, exc, bytes(data[:200]))
