"""Processes that only the workflow tests load (next to workers.examples)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

from fastproc import (
    BaseParallelProcess,
    InputDescription,
    OutputDescription,
    ProcessDescription,
    ProcessError,
    Progress,
    process,
)


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


class BarrierParts(BaseParallelProcess):
    """n parts, each of which marks itself started in the directory `gate` and then waits
    until all n have started (for at most `seconds`, then fails): the parts can only finish
    if they run at once. Gives how many distinct worker processes ran them."""

    description = ProcessDescription(
        id="barrier_parts",
        inputs={
            "n": InputDescription(schema={"type": "integer", "minimum": 1, "maximum": 50}),
            "gate": InputDescription(schema={"type": "string"}),
            "seconds": InputDescription(schema={"type": "number", "minimum": 0,
                                                "maximum": 120}),
        },
        outputs={"workers": OutputDescription(schema={"type": "integer"}),
                 "parts": OutputDescription(schema={"type": "integer"})},
    )

    def split_inputs(self, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"i": i, "n": inputs["n"], "gate": inputs["gate"],
                 "seconds": inputs["seconds"]} for i in range(inputs["n"])]

    async def execute_single(self, item: dict[str, Any], progress: Progress) -> int:
        directory = Path(item["gate"])
        await asyncio.to_thread((directory / f"started-{item['i']}").touch)
        deadline = time.monotonic() + item["seconds"]
        while (started := await asyncio.to_thread(_count, directory, "started-*")) < item["n"]:
            if time.monotonic() > deadline:
                raise ProcessError(f"part {item['i']} saw only {started} of {item['n']} "
                                   "parts start")
            await asyncio.sleep(0.01)
        return os.getpid()

    def merge_results(self, results: list[int]) -> dict[str, Any]:
        return {"workers": len(set(results)), "parts": len(results)}


def _count(directory: Path, pattern: str) -> int:
    return len(list(directory.glob(pattern)))
