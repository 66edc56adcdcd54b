"""Processes that only the tests load (next to workers.examples)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastproc import BaseProcess, Progress, load_description, process


class Multiply(BaseProcess):
    """The class style, with its description loaded from a YAML file."""

    description = load_description(Path(__file__).with_name("multiply.yaml"))
    deterministic = True

    async def execute(self, inputs: dict[str, Any], progress: Progress) -> dict[str, Any]:
        progress(50, "multiplying")
        return {"product": inputs["x"] * inputs["y"]}


@process(output="slept", timeout=0.5)
async def slow_cleanup(seconds: float) -> float:
    """Sleeps past its 0.5 s time limit, so the soft limit cancels it."""
    await asyncio.sleep(seconds)
    return seconds


@process(output="done")
def blocking_sleep(seconds: float) -> bool:
    """A sync body: it runs in a worker thread and must not block other jobs."""
    import time

    time.sleep(seconds)
    return True
