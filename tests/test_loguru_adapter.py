"""The contract of `fastproc._loguru` with loguru and the standard `logging`: a standard
record reaches loguru at the module and line that logged it, under its logger's name, with
the context it was logged in; the bridge is recognised as one, so a second is never added."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from loguru import logger

from fastproc._loguru import StdToLoguru, routes_to_loguru
from fastproc.logging_setup import configure_logging
from fastproc.settings import Settings
from fastproc.worker.capture import LogCapture


@pytest.fixture
def records() -> Iterator[list[dict[str, object]]]:
    seen: list[dict[str, object]] = []
    sink = logger.add(lambda m: seen.append(dict(m.record)), level="DEBUG")
    std = logging.getLogger("contract.std")
    std.handlers, std.propagate = [StdToLoguru()], False
    std.setLevel(logging.DEBUG)
    yield seen
    logger.remove(sink)
    std.handlers = []


def _log_here() -> int:
    logging.getLogger("contract.std").warning("from the standard library")
    return _log_here.__code__.co_firstlineno + 1


def test_a_standard_record_keeps_its_caller_its_name_and_its_context(
        records: list[dict[str, object]]) -> None:
    with logger.contextualize(job_id="job-1"):
        line = _log_here()
    (record,) = [r for r in records if r["message"] == "from the standard library"]
    assert (record["name"], record["function"], record["line"]) == (__name__, "_log_here", line)
    # Other tests may have configured loguru's default extras (a process id) before this one.
    extra = record["extra"]
    assert isinstance(extra, dict)
    assert (extra["job_id"], extra["logger"]) == ("job-1", "contract.std")
    assert record["level"].name == "WARNING"  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_the_capture_adds_no_second_bridge_to_the_logging_set_up() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(Settings())
        assert not routes_to_loguru(logging.StreamHandler())
        capture = LogCapture(logs=None, ending_ttl=1)  # type: ignore[arg-type]
        capture.install()
        try:
            assert sum(routes_to_loguru(h) for h in root.handlers) == 1
        finally:
            await capture.close()
    finally:
        root.handlers = saved[0]
        root.setLevel(saved[1])
        logger.remove()
        logger.add(sys.stderr)
