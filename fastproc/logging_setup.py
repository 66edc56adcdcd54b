"""loguru set-up from settings: levels, optional rotated file, JSON lines, job context.

Standard `logging` (uvicorn, arq) is routed through loguru by `fastproc._loguru`'s bridge,
so every line looks the same."""

from __future__ import annotations

import logging
import sys

from loguru import logger

from fastproc._loguru import StdToLoguru, routes_to_loguru
from fastproc.settings import Settings

_FORMAT = (
    "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <7}</level> | "
    "{extra[job_id]} {extra[process_id]} | {name}:{line} - <level>{message}</level>"
)

def _bridge(target: logging.Logger) -> None:
    target.handlers = [StdToLoguru()]
    target.propagate = False


class _KeepBridged(logging.Filter):
    """Puts the bridge back on its logger when a later set-up took it away. arq's CLI
    imports `fastproc.WorkerSettings` (which sets up fastproc's logging), then configures
    the "arq" logger with its own handler, which resets every "arq.*" logger; a logger's
    filters survive that and run before its handlers are read, so arq's first lines are
    in fastproc's format too."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self._target = target

    def filter(self, record: logging.LogRecord) -> bool:
        if not any(routes_to_loguru(h) for h in self._target.handlers):
            _bridge(self._target)
        return True


#: Every logger arq writes to.
ARQ_LOGGERS = ("arq", "arq.worker", "arq.connections", "arq.jobs", "arq.cron")


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
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", *ARQ_LOGGERS):
        _bridge(logging.getLogger(name))
    for name in ARQ_LOGGERS:
        arq_logger = logging.getLogger(name)
        if not any(isinstance(f, _KeepBridged) for f in arq_logger.filters):
            arq_logger.addFilter(_KeepBridged(arq_logger))
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
