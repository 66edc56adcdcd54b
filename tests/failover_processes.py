"""Processes that keep a journal of their runs outside Redis, so a failover benchmark can
count the jobs that ran twice: a run whose end was lost with the old primary and that a
worker ran again leaves two lines, though Redis remembers one job.

The journal is the file named by `FAILOVER_JOURNAL` in the worker's environment (set by
`benchmarks.failover`; not a fastproc setting, like `BENCH_ROUND_TRIPS_FILE`); without it
the processes keep no journal. A client never names the file.
"""

from __future__ import annotations

import asyncio
import os

from fastproc import process

#: Longest sleep `journaled_sleep` accepts, seconds.
MAX_SLEEP = 30.0


def _journal(token: str) -> None:
    """One line per run; O_APPEND writes of a short line land whole, whichever worker."""
    path = os.environ.get("FAILOVER_JOURNAL")
    if not path:
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, f"{token}\n".encode())
    finally:
        os.close(descriptor)


@process(output="value")
async def journaled_echo(value: str) -> str:
    """Echoes `value` and writes it to the journal (one line per run)."""
    if "\n" in value:
        raise ValueError("value must be one line")
    _journal(value)
    return value


@process(output="value")
async def journaled_sleep(value: str, seconds: float) -> str:
    """Sleeps `seconds` (at most MAX_SLEEP) and then journals `value`: a job that is
    running when the primary dies."""
    if "\n" in value:
        raise ValueError("value must be one line")
    await asyncio.sleep(min(max(seconds, 0.0), MAX_SLEEP))
    _journal(value)
    return value
