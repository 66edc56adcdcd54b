"""Processes that wait at gates a test opens, and the test's side of those gates.

A test that must act while a job is running, or at a given step, holds the job at a gate
instead of hoping that a sleep outlasts a busy machine: the job goes on only when the test
has seen what it waits for and opens the gate. A gate is a file in a directory the test owns
(the workers run on this machine), so a process needs nothing but the directory's path.
Reaching a gate leaves a file too, so the test can wait for "the job got here".
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from fastproc import (
    BaseParallelProcess,
    InputDescription,
    OutputDescription,
    ProcessDescription,
    Progress,
    process,
)

#: A gate nobody opens fails its job after this long instead of holding a worker slot for
#: ever (a test that forgets one fails on its own timeout long before).
GATE_TIMEOUT = 300.0
#: Opens every gate of a directory: a test's teardown releases whatever still waits.
ALL = "all"
_POLL = 0.01


def _reached(directory: Path, name: str) -> Path:
    return directory / f"{name}.reached"


def _is_open(directory: Path, name: str) -> bool:
    return (directory / name).exists() or (directory / ALL).exists()


async def wait_at(directory: str, name: str) -> None:
    """Say that the job reached gate `name`, then wait (cancellably) until it is open."""
    gates = Path(directory)
    _reached(gates, name).touch()
    deadline = time.monotonic() + GATE_TIMEOUT
    while not _is_open(gates, name):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {name} was never opened")
        await asyncio.sleep(_POLL)


def block_at(directory: str, name: str) -> None:
    """`wait_at` for a sync body: blocks its thread until the gate is open."""
    gates = Path(directory)
    _reached(gates, name).touch()
    deadline = time.monotonic() + GATE_TIMEOUT
    while not _is_open(gates, name):
        if time.monotonic() > deadline:
            raise TimeoutError(f"gate {name} was never opened")
        time.sleep(_POLL)


class Gates:
    """The test's side: a directory of gates, passed to a gated process as its `gate` input."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory

    @property
    def path(self) -> str:
        return str(self.directory)

    def open(self, name: str) -> None:
        (self.directory / name).touch()

    def open_all(self) -> None:
        self.open(ALL)

    def reached(self, name: str) -> bool:
        return _reached(self.directory, name).exists()

    def pass_step(self, message: str | None, steps: int) -> None:
        """Let a `stepwise` job of `steps` steps past the step this message reports, if any."""
        gates = {step_message(step, steps): step_gate(step) for step in range(1, steps + 1)}
        if message in gates:
            self.open(gates[message])


def step_gate(step: int) -> str:
    """The gate `stepwise` waits at after reporting step `step` (1-based)."""
    return f"step-{step}"


def step_message(step: int, steps: int) -> str:
    return f"step {step} of {steps}"


def part_gate(index: int) -> str:
    return f"part-{index}"


@process(output="steps", job_control=("async-execute", "dismiss"))
async def stepwise(gate: str, steps: int, progress: Progress) -> int:
    """Reports each step, then waits at its gate: a test sees every step it lets through."""
    for step in range(1, steps + 1):
        progress((step - 1) * 100 // steps, step_message(step, steps))
        await wait_at(gate, step_gate(step))
    return steps


@process(output="done")
def held_in_a_thread(gate: str) -> bool:
    """A sync body that blocks its worker thread until its gate `go` opens."""
    block_at(gate, "go")
    return True


class GatedParts(BaseParallelProcess):
    """A fan-out whose part `i` waits at gate `part-i`."""

    description = ProcessDescription(
        id="gated_parts",
        inputs={
            "n": InputDescription(schema={"type": "integer", "minimum": 0}),
            "gate": InputDescription(schema={"type": "string"}),
        },
        outputs={"order": OutputDescription(schema={"type": "array",
                                                    "items": {"type": "integer"}})},
    )

    def split_inputs(self, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"i": i, "gate": inputs["gate"]} for i in range(inputs["n"])]

    async def execute_single(self, item: dict[str, Any], progress: Progress) -> int:
        await wait_at(item["gate"], part_gate(item["i"]))
        return int(item["i"])

    def merge_results(self, results: list[int]) -> dict[str, Any]:
        return {"order": results}
