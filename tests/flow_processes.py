"""Processes that only the workflow tests load (next to workers.examples)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastproc import ProcessError, process


@process(deterministic=True, output="value")
async def counted_double(x: float, log: str) -> float:
    """Twice `x`, appending a line to the file at `log` each time the body runs: a test
    counts which nodes of a workflow ran and which were answered from the cache."""
    await asyncio.to_thread(_append, Path(log), f"{x}\n")
    return 2 * x


@process(output="value")
async def fail_number(x: float) -> float:
    """Fails with a message naming `x` (a number output, so it fits a number input)."""
    raise ProcessError(f"refusing {x}")


@process(output="value")
async def slow_number(x: float, seconds: float) -> float:
    """`x` after `seconds`: a node that is still running when the test acts."""
    await asyncio.sleep(seconds)
    return x


def _append(file: Path, line: str) -> None:
    with file.open("a") as out:
        out.write(line)


@process(output="value")
async def gated_number(x: float, gate: str) -> float:
    """`x` once the test opens the gate `number` in the directory `gate` (tests/gated.py):
    a node that is provably running while the test looks at it."""
    from tests.gated import wait_at

    await wait_at(gate, "number")
    return x


@process(output="text")
async def big_text(kilobytes: int) -> str:
    """`kilobytes` thousand characters: a node whose value is large beside its request."""
    return "x" * (1000 * kilobytes)


@process(output="length")
async def text_length(text: str) -> int:
    """The length of `text`: the parent that a large nested value feeds."""
    return len(text)
