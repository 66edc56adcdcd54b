"""The API's transport wrapper (`fastproc.api.server._Coalescing`): what one loop turn
writes leaves as one write, in order; a large body is written at once; close flushes."""

from __future__ import annotations

import asyncio

import pytest

from fastproc.api.server import _FLUSH_AT, _Coalescing


class _Recording(asyncio.Transport):
    """Records what reaches the socket side (pure logic: no network is involved)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


@pytest.mark.anyio
async def test_one_turn_of_writes_is_one_write_in_order() -> None:
    real = _Recording()
    coalescing = _Coalescing(real, asyncio.get_running_loop())
    coalescing.write(b"HTTP/1.1 200 OK\r\n\r\n")
    coalescing.writelines([b"a", memoryview(b"b")])
    coalescing.write(b"c")
    assert real.writes == []
    await asyncio.sleep(0)  # the loop's next turn (the flush is scheduled, not timed)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\nabc"]


@pytest.mark.anyio
async def test_a_large_body_is_written_at_once_and_close_flushes() -> None:
    real = _Recording()
    coalescing = _Coalescing(real, asyncio.get_running_loop())
    coalescing.write(b"head")
    coalescing.write(b"x" * _FLUSH_AT)
    assert real.writes == [b"head" + b"x" * _FLUSH_AT]  # flow control sees it now
    coalescing.write(b"tail")
    coalescing.close()
    assert real.writes[-1] == b"tail" and real.closed
    await asyncio.sleep(0)
    assert len(real.writes) == 2  # the scheduled flush finds nothing left
