"""A process for the chaos run: it records every execution, so re-runs can be counted."""

from __future__ import annotations

import os
import time

from fastproc import process


@process(output="token")
def tally(token: str, work: float = 0.0) -> str:
    """Appends its token to FASTPROC_BENCH_TALLY (one line per run), then works a while.
    A plain `def`: the worker runs it in a thread, so the file write never blocks the loop."""
    with open(os.environ["FASTPROC_BENCH_TALLY"], "a", encoding="utf-8") as tally_file:
        tally_file.write(token + "\n")
    time.sleep(work)
    return token
