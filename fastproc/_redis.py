"""redis-py's internals, and the only module that touches them: the speed hooks of
fastproc's Redis connections (commands packed by hiredis, the pool's quiet check).

Tested against redis-py 5.0 to 5.3 (`pyproject.toml` caps it; `tests/test_redis_adapter.py`
checks the hooks' behaviour, and the same behaviour with them off). `FASTPROC_FAST_PATHS=0`
leaves redis-py's own connection classes in place (`fastproc.redis.connect`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from redis._parsers.hiredis import NOT_ENOUGH_DATA
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection
from redis.connection import HiredisRespSerializer

R = TypeVar("R", bound=Redis)


class _HiredisPacking:
    """Commands packed by hiredis, in C. redis-py's synchronous connections do that when
    hiredis is installed; its asyncio ones pack in Python, argument by argument, which was
    7 % of the worker's CPU and of the API's on the job paths (Lua calls carry dozens of
    arguments), against redis-py's own `pack_command`; a 39-argument EVALSHA packs in 2.6
    µs against 15.9. The bytes sent are the same (a test compares them)."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        packed: list[bytes] = self._packer.pack(*args)
        return packed


class _QuietCheck:
    """The pool's check, before it lends a connection, that no reply is left unread on it
    (which would answer the next command), made without a pass of the event loop when
    nothing is buffered. redis-py reads the socket under a zero timeout: every command
    waited one pass of the loop and paid a timer, a future and a cancellation, about 5 % of
    a worker's CPU against redis-py's own `can_read_destructive` (the check of an idle
    connection: 0.2 µs of CPU against 5.4 under uvloop). Bytes that reached the
    socket are in the stream's buffer (asyncio's `StreamReader._buffer`) by the time the
    loop runs anything else; when some are, or the stream ended or failed, or the parser
    is not hiredis's (its `_stream`, `_reader`, `_connected`), redis-py's own check runs
    (and reconnects)."""

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


#: The hooked class of each of redis-py's: the Sentinel-managed ones too (they only change
#: where a connection goes, by overriding `connect` and `read_response`, which the hooks
#: leave alone).
_PACKED_IN_C: dict[type, type] = {
    cls: type(cls.__name__, (_HiredisPacking, _QuietCheck, cls), {"__module__": __name__})
    for cls in (Connection, SSLConnection, UnixDomainSocketConnection,
                SentinelManagedConnection, SentinelManagedSSLConnection)
}


def packing_in_c(client: R) -> R:
    """`client`, its connections (none is open yet) packing commands with hiredis and
    checked before each command without a pass of the event loop (`_QuietCheck`)."""
    pool = client.connection_pool
    pool.connection_class = _PACKED_IN_C.get(pool.connection_class, pool.connection_class)
    return client
