"""Processes that log, for the job log and dashboard tests: with loguru and with the standard
`logging`, in a plain body, in a sync body's thread, in fan-out parts and their merge, and
one that fails deep in its own helper so its traceback has frames of its own."""

from __future__ import annotations

import logging
import unicodedata
from typing import Any

from loguru import logger

from fastproc import (
    BaseParallelProcess,
    InputDescription,
    OutputDescription,
    ProcessDescription,
    Progress,
    process,
)
from tests.gated import block_at, wait_at

std = logging.getLogger("tests.logging_processes")


@process(output="lines")
async def chatty(gate: str, lines: int, progress: Progress) -> int:
    """Logs `lines` lines with loguru and one with `logging`, waits at gate `go`, then logs
    its last line: a test sees the first lines while the job provably runs."""
    for i in range(1, lines + 1):
        logger.info("loguru line {} of {}", i, lines)
    std.warning("a standard logging line")
    progress(50, "waiting at the gate")
    await wait_at(gate, "go")
    logger.info("past the gate")
    return lines


@process(output="steps")
async def log_steps(gate: str, steps: int, progress: Progress) -> int:
    """Logs each step, then waits at its gate (`step-<n>`): a page that follows the log sees
    each step's line arrive while the job runs."""
    for step in range(1, steps + 1):
        logger.info("step {} of {}", step, steps)
        progress((step - 1) * 100 // steps, f"step {step}")
        await wait_at(gate, f"step-{step}")
    return steps


@process(output="done")
def chatty_in_a_thread(gate: str) -> bool:
    """A sync body (a worker thread) that logs with both libraries around its gate."""
    logger.info("from a thread, with loguru")
    std.info("from a thread, with logging")
    block_at(gate, "go")
    return True


def _parse_ratio(text: str) -> float:
    numerator, denominator = text.split("/")
    return int(numerator) / int(denominator)


@process(output="ratio")
async def fails_deep(text: str) -> float:
    """Logs, then fails in a helper of its own (a ZeroDivisionError for "1/0")."""
    logger.info("parsing {}", text)
    return _parse_ratio(text)


class ChattyParts(BaseParallelProcess):
    """n parts that each log one line, part `slow` waiting at gate `part-slow` first; the
    merge logs too."""

    description = ProcessDescription(
        id="chatty_parts",
        inputs={
            "n": InputDescription(schema={"type": "integer", "minimum": 1}),
            "gate": InputDescription(schema={"type": "string"}),
        },
        outputs={"total": OutputDescription(schema={"type": "integer"})},
    )

    def split_inputs(self, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"i": i, "gate": inputs["gate"]} for i in range(inputs["n"])]

    async def execute_single(self, item: dict[str, Any], progress: Progress) -> int:
        if item["i"] == 0:
            await wait_at(item["gate"], "part-slow")
        logger.info("part {} ran", item["i"])
        return int(item["i"])

    def merge_results(self, results: list[int]) -> dict[str, Any]:
        std.info("merging %d parts", len(results))
        return {"total": sum(results)}


@process(output="done")
async def logs_lone_surrogates() -> bool:
    """Logs text with a lone surrogate (what `surrogateescape` makes of undecodable bytes),
    with loguru and with `logging`."""
    logger.info("bad \udc80 here")
    std.warning("std \udcff too")
    return True


#: Text a terminal would act on (a window title, a screen clear, colours, a bell, a C1 CSI,
#: a bidirectional override) and rich markup, then how the client must print it.
TERMINAL_TRICKS = ("title\x1b]0;pwned\x07 clear\x1b[2J\x1b[H red \x1b[31mtext\x1b[0m "
                   "bell\x07 csi\x9b2J \u202eevil [bold]markup[/bold]")
TRICKS_SHOWN = "title clear red text bell\\u0007 csi\\u009b2J \\u202eevil [bold]markup[/bold]"


def unprintable(text: str) -> set[str]:
    """The characters of `text` a terminal acts on or cannot print: controls but newline and
    tab, format characters (bidirectional overrides), surrogates."""
    return {c for c in text if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf", "Cs")}


@process(output="done")
async def logs_escape_sequences() -> bool:
    """Logs `TERMINAL_TRICKS`."""
    logger.info(TERMINAL_TRICKS)
    return True
