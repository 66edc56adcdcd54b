"""The bridge from the standard `logging` into loguru, and the only module that knows how
a standard record reaches loguru: which frame logged it, and which handler is the bridge.

One bridge serves both uses: `fastproc.logging_setup` routes uvicorn's, arq's and every
other standard logger through loguru so every line looks the same, and a worker's job log
capture (`fastproc.worker.capture`) needs a process's standard records in loguru, in the
context they were logged in. Tested against loguru 0.7 (`pyproject.toml` caps it;
`tests/test_loguru_adapter.py`). No speed hook here: `FASTPROC_FAST_PATHS` changes
nothing.
"""

from __future__ import annotations

import logging
import sys

from loguru import logger

_LOGGING_FILE = logging.__file__


def _caller_depth() -> int:
    """How many frames up from `StdToLoguru.emit` the code that called `logging` is: the
    first frame outside the standard `logging` package. A fixed count (`depth=6`) is true of
    one Python's `logging` only; this walk is loguru's documented recipe, and costs about a
    microsecond a record."""
    frame = sys._getframe(2)  # emit's caller: logging's own `Handler.handle`
    depth = 2
    while frame is not None and frame.f_code.co_filename == _LOGGING_FILE:
        frame = frame.f_back  # type: ignore[assignment]
        depth += 1
    return depth


class StdToLoguru(logging.Handler):
    """Standard `logging` records into loguru, in the context they were logged in (so a
    job's context reaches the capture sink), at the caller's module and line, under the
    standard logger's name (`extra["logger"]`)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.bind(logger=record.name).opt(
            depth=_caller_depth() - 1, exception=record.exc_info).log(level, record.getMessage())


def routes_to_loguru(handler: logging.Handler) -> bool:
    """Whether `handler` already forwards standard records into loguru."""
    return isinstance(handler, StdToLoguru)
