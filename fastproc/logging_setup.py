"""loguru set-up from settings: levels, optional rotated file, JSON lines, job context.

Standard `logging` (uvicorn, arq) is routed through loguru by `fastproc._loguru`'s bridge,
so every line looks the same."""

from __future__ import annotations

import logging
import sys

from loguru import logger

from fastproc._loguru import StdToLoguru
from fastproc.settings import Settings

_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | "
    "{extra[job_id]} {extra[process_id]} | {name}:{line} - <level>{message}</level>"
)


def configure_logging(settings: Settings) -> None:
    logger.remove()
    logger.configure(extra={"job_id": "-", "process_id": "-"})
    logger.add(sys.stderr, level=settings.log_level, format=_FORMAT,
               serialize=settings.log_json, backtrace=False, diagnose=False)
    if settings.log_file:
        # A lone surrogate in a message (undecodable bytes read as text) is written as an
        # escape, as stderr does, not refused with a traceback per line.
        logger.add(settings.log_file, level=settings.log_level, format=_FORMAT,
                   rotation=settings.log_rotation, serialize=settings.log_json,
                   backtrace=False, diagnose=False, enqueue=True, errors="backslashreplace")
    logging.basicConfig(handlers=[StdToLoguru()], level=settings.log_level, force=True)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker"):
        logging.getLogger(name).handlers = [StdToLoguru()]
        logging.getLogger(name).propagate = False
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
