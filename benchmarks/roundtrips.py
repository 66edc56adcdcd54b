"""Round trips to Redis counted inside a fastproc process, by the code that made them.

`python -m benchmarks.roundtrips worker` (or `serve --port N`) runs `fastproc` with
redis-py's asyncio `send_packed_command` wrapped: every call is one round trip (a command, a
pipeline or a Lua call, each sent in one write and answered before the caller goes on), and
is counted under the innermost module on the calling stack that is not redis-py or asyncio
(`fastproc.jobs.service`, `fastproc.worker.arq_loop`, `arq.worker`...). A thread writes the counts
to `$BENCH_ROUND_TRIPS_FILE` every 50 ms. Walking the stack slows the process, so the
harness counts in a run of its own (`--scenarios roundtrips`), never in a timed one; fastproc
itself is unchanged.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import orjson

# This module runs as `__main__`: a round trip made while connecting (the handshake inside
# another counted call) is charged to the code that asked for the connection.
_SKIP = ("redis.", "asyncio", "contextlib", "benchmarks.roundtrips", "__main__", "tenacity",
         "functools")
counts: Counter[str] = Counter()


def _origin() -> str:
    frame = sys._getframe(2)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", "?"))
        if not module.startswith(_SKIP):
            return module
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def install() -> None:
    """Wrap redis-py's asyncio connections so that each round trip is counted."""
    from redis.asyncio.connection import AbstractConnection

    original: Callable[..., Coroutine[Any, Any, None]] = AbstractConnection.send_packed_command

    async def counted(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        counts[_origin()] += 1
        await original(self, *args, **kwargs)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]


def _dump_forever(path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    while True:
        snapshot: dict[str, int] = {}
        with contextlib.suppress(RuntimeError):  # changed size while copied: next time
            snapshot = dict(counts)
        if snapshot:
            temporary.write_bytes(orjson.dumps(snapshot))
            temporary.replace(path)
        time.sleep(0.05)


def read(path: Path) -> Counter[str]:
    """The counts last written by a counted process (empty before its first round trip)."""
    try:
        return Counter(orjson.loads(path.read_bytes()))
    except (OSError, ValueError):
        return Counter()


def main() -> None:
    install()
    path = Path(os.environ["BENCH_ROUND_TRIPS_FILE"])
    threading.Thread(target=_dump_forever, args=(path,), daemon=True).start()
    from fastproc.cli import main as fastproc

    fastproc(sys.argv[1:])


if __name__ == "__main__":
    main()
