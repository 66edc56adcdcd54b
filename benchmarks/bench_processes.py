"""Processes only the benchmarks load: `tally` records every execution (the chaos run counts
re-runs with it), `big_blob` makes large results (the memory check)."""

from __future__ import annotations

import os
import time
from typing import Annotated

from fastproc import MediaType, process


@process(output="token")
def tally(token: str, work: float = 0.0) -> str:
    """Appends its token to FASTPROC_BENCH_TALLY (one line per run), then works a while.
    A plain `def`: the worker runs it in a thread, so the file write never blocks the loop."""
    with open(os.environ["FASTPROC_BENCH_TALLY"], "a", encoding="utf-8") as tally_file:
        tally_file.write(token + "\n")
    time.sleep(work)
    return token


@process(output="data")
def big_blob(megabytes: float) -> Annotated[bytes, MediaType("application/octet-stream")]:
    """A binary result of the given size, for the memory check of large results."""
    return os.urandom(int(megabytes * 1024 * 1024))
