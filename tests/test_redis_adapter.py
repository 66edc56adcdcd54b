"""The contract of `fastproc._redis` with redis-py: fastproc's Redis connections pack
commands with hiredis, the same bytes as redis-py's own packer for any arguments it takes,
and real round trips. They are checked for unread replies before each loan without a pass
of the event loop, and a reply left unread on one still never answers another command,
with the speed hooks on and off (`FASTPROC_FAST_PATHS`)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection

from fastproc.redis import connect
from fastproc.settings import Settings

#: Both ways of building connections: the speed hooks on, and redis-py's public path.
both_paths = pytest.mark.parametrize("fast_paths", [True, False],
                                     ids=["fast-paths", "public-paths"])

_ARGUMENT = st.one_of(st.text(), st.binary(), st.integers(), st.floats(allow_nan=False))


@given(name=st.sampled_from(["SET", "EVALSHA", "CONFIG GET", b"SCRIPT LOAD", b"HSET"]),
       args=st.lists(_ARGUMENT, max_size=40))
def test_commands_are_packed_to_the_bytes_redis_py_sends(
        name: str | bytes, args: list[str | bytes | int | float]) -> None:
    ours = connect(Settings(redis_url="redis://127.0.0.1:1/0", fast_paths=True)).connection_pool
    mine = ours.connection_class(**ours.connection_kwargs)
    plain = Connection(**ours.connection_kwargs)
    assert type(mine) is not Connection
    assert b"".join(mine.pack_command(name, *args)) == \
        b"".join(plain.pack_command(name, *args))
    commands = [(name, *args), ("GET", "k")]
    assert b"".join(mine.pack_commands(commands)) == b"".join(plain.pack_commands(commands))


def test_without_fast_paths_connections_are_redis_pys_own() -> None:
    pool = connect(Settings(redis_url="redis://127.0.0.1:1/0", fast_paths=False)).connection_pool
    assert pool.connection_class is Connection


@both_paths
@pytest.mark.anyio
async def test_values_of_every_kind_go_to_redis_and_back(redis_url: str, key_prefix: str,
                                                         fast_paths: bool) -> None:
    client = connect(Settings(redis_url=redis_url, fast_paths=fast_paths))
    key = f"{key_prefix}:packing:{uuid.uuid4().hex}"
    try:
        values = {"text": "ünïcödé ✓", "bytes": b"\x00\xff\r\n", "int": 12345678901234567890,
                  "float": 0.1, "empty": ""}
        await client.hset(key, mapping=values)
        await client.expire(key, 60)
        stored = await client.hgetall(key)
        assert stored == {b"text": "ünïcödé ✓".encode(), b"bytes": b"\x00\xff\r\n",
                          b"int": b"12345678901234567890", b"float": b"0.1", b"empty": b""}
    finally:
        await client.delete(key)
        await client.aclose()


async def _buffered(stream: asyncio.StreamReader) -> None:
    """Until bytes the server sent are in the stream's buffer (the loop read them)."""
    async with asyncio.timeout(10):
        if not stream._buffer:
            await stream._wait_for_data("the test")


@pytest.mark.anyio
async def test_a_quiet_connection_is_checked_without_a_pass_of_the_loop(redis_url: str) -> None:
    client = connect(Settings(redis_url=redis_url, fast_paths=True))
    try:
        assert await client.ping()
        conn = await client.connection_pool.get_connection()
        try:
            check = conn.can_read_destructive()
            with pytest.raises(StopIteration) as ended:  # done at its first step
                check.send(None)
            assert ended.value.value is False
        finally:
            await client.connection_pool.release(conn)
    finally:
        await client.aclose()


@both_paths
@pytest.mark.anyio
async def test_a_reply_left_unread_never_answers_the_next_command(
        redis_url: str, key_prefix: str, fast_paths: bool) -> None:
    client = connect(Settings(redis_url=redis_url, fast_paths=fast_paths))
    key = f"{key_prefix}:unread:{uuid.uuid4().hex}"
    try:
        await client.set(key, b"the value", ex=60)
        pool = client.connection_pool
        conn = await pool.get_connection()
        await conn.send_command("ECHO", b"left unread")
        await _buffered(conn._parser._stream)
        await pool.release(conn)  # back in the pool with a reply nobody read
        assert await client.get(key) == b"the value"
        assert await client.echo(b"asked") == b"asked"
    finally:
        await client.delete(key)
        await client.aclose()
