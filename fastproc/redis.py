"""Connections to Redis with timeouts and retries, built from settings (never at import).

These are plain redis.asyncio clients: the API enqueues through `fastproc.wire.enqueue`
and never loads arq. The worker's own connection (an `ArqRedis`) is built by the arq
adapter from the same options (`fastproc.worker.arq_loop.connect_worker`). Both go through
`with_fast_paths`: redis-py's internals are touched in `fastproc._redis` only.
"""

from __future__ import annotations

from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fastproc._redis import packing_in_c
from fastproc.settings import Settings

DEFAULT_URL = "redis://127.0.0.1:6379/0"
R = TypeVar("R", bound=Redis)


def redis_url(settings: Settings) -> str:
    """The Redis fastproc talks to (`FASTPROC_REDIS_URL`, or the local default)."""
    return settings.redis_url or DEFAULT_URL


def connection_options(settings: Settings, *,
                       socket_timeout: float | None = -1.0) -> dict[str, Any]:
    """Keyword arguments of `Redis.from_url`: timeouts, retries with backoff, keepalive.

    `socket_timeout=None` gives a connection that may block forever, as a pub/sub
    listener must; the default is the configured Redis timeout.

    A connection with a timeout retries a lost connection but not a timeout: a server that
    did not answer in time is frozen or swamped, and waiting again multiplies the caller's
    wait (a frozen Valkey held every API request 33 s: six 5-s timeouts and the backoff),
    while the command may have been applied and must not be sent twice. Such a connection
    also connects within its timeout, so a call waits one timeout at most per try.
    """
    timeout = settings.redis_timeout if socket_timeout == -1.0 else socket_timeout
    retried: tuple[type[RedisError], ...] = (RedisConnectionError,)
    if timeout is None:
        retried += (RedisTimeoutError,)  # only connecting can time out
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": (settings.redis_timeout if timeout is None
                                   else min(timeout, settings.redis_timeout)),
        # Retry's own default would add timeouts back: the errors are given to both.
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), settings.redis_retries,
                       supported_errors=retried),
        "retry_on_error": list(retried),
        "health_check_interval": 30,
        "socket_keepalive": True,
    }


def connect(settings: Settings, *, socket_timeout: float | None = -1.0) -> Redis:
    """A redis.asyncio client for these settings (see `connection_options`)."""
    client: Redis = Redis.from_url(
        redis_url(settings), **connection_options(settings, socket_timeout=socket_timeout))
    return with_fast_paths(client, settings)


def with_fast_paths(client: R, settings: Settings) -> R:
    """`client` with the speed hooks of `fastproc._redis` (hiredis packing, the quiet check
    before each loan) unless `FASTPROC_FAST_PATHS` is off; its connections are not open
    yet. Every connection fastproc builds from settings goes through here."""
    return packing_in_c(client) if settings.fast_paths else client
