"""Connections to Redis with timeouts and retries, built from settings (never at import).

These are plain redis.asyncio clients: the API enqueues through `fastproc.wire.enqueue`
and never loads arq. The worker's own connection (an `ArqRedis`) is built by the arq
adapter from the same options (`fastproc.worker.arq_loop.connect_worker`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from redis._parsers.hiredis import NOT_ENOUGH_DATA
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
    return packing_in_c(client)


class _HiredisPacking:
    """Commands packed by hiredis, in C. redis-py's synchronous connections do that when
    hiredis is installed; its asyncio ones pack in Python, argument by argument, which was
    7 % of the worker's CPU and of the API's on the job paths (Lua calls carry dozens of
    arguments). The bytes sent are the same (a test compares them)."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._packer.pack(*args)
        return packed


class _QuietCheck:
    """The pool's check, before it lends a connection, that no reply is left unread on it
    (which would answer the next command), made without a pass of the event loop when
    nothing is buffered. redis-py reads the socket under a zero timeout: every command
    waited one pass of the loop and paid a timer, a future and a cancellation, about 5 % of
    a worker's CPU. Bytes that reached the socket are in the stream's buffer by the time
    the loop runs anything else; when some are, or the stream ended or failed, or the
    parser is not hiredis's (or the stream has no such buffer: a test pins it), redis-py's
    own check runs (and reconnects)."""

    _parser: Any

    async def can_read_destructive(self) -> bool:
        parser = self._parser
        stream = getattr(parser, "_stream", None)
        reader = getattr(parser, "_reader", None)
        if (not getattr(parser, "_connected", False) or stream is None or reader is None
                or getattr(stream, "_buffer", True) or stream.at_eof()
                or stream.exception() is not None):
            checked: bool = await super().can_read_destructive()  # type: ignore[misc]
            return checked
        return reader.gets() is not NOT_ENOUGH_DATA  # a whole reply already parsed


_PACKED_IN_C: dict[type, type] = {
    cls: type(cls.__name__, (_HiredisPacking, _QuietCheck, cls), {"__module__": __name__})
    for cls in (Connection, SSLConnection, UnixDomainSocketConnection)
}


def packing_in_c(client: R) -> R:
    """`client`, its connections (none is open yet) packing commands with hiredis and
    checked before each command without a pass of the event loop (`_QuietCheck`)."""
    pool = client.connection_pool
    pool.connection_class = _PACKED_IN_C.get(pool.connection_class, pool.connection_class)
    return client
