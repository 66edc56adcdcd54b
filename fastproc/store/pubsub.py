"""A pub/sub subscription that survives Redis going away: resubscribe with backoff, and
tell the owner each time it is (re)connected, since messages sent meanwhile are lost.

Anyone who can publish on the channel can send anything, so a message its owner cannot
handle is logged and dropped: one bad message must never end the subscription."""

from __future__ import annotations

from collections.abc import Callable

from loguru import logger
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential


async def listen_forever(redis: Redis, channel: str, on_message: Callable[[bytes], None],
                         on_connected: Callable[[], None], what: str) -> None:
    """Deliver every message of `channel` until cancelled."""
    while True:
        async with redis.pubsub(ignore_subscribe_messages=True) as pubsub:
            await _subscribe(pubsub, channel, what)
            on_connected()
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        _deliver(on_message, message["data"], what)
            except (RedisError, OSError) as exc:
                logger.warning("{} subscription lost ({}); subscribing again", what, exc)


async def _subscribe(pubsub: PubSub, channel: str, what: str) -> None:
    """Subscribe to `channel`, retrying with backoff (0.1 s doubling to 5 s) until Redis
    answers."""

    def log(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.warning("cannot subscribe to {} ({}); retrying in {:.1f}s", what, exc, wait)

    retrying = AsyncRetrying(retry=retry_if_exception_type((RedisError, OSError)),
                             wait=wait_exponential(multiplier=0.1, max=5.0), before_sleep=log)
    await retrying(pubsub.subscribe, channel)


def _deliver(on_message: Callable[[bytes], None], data: bytes, what: str) -> None:
    try:
        on_message(data)
    except Exception as exc:  # a hostile or malformed message: drop it, keep listening
        logger.warning("dropped a malformed {} message ({}: {}): {!r}", what,
                       type(exc).__name__, exc, bytes(data[:200]))
