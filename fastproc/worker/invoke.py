"""Running one process body under the job's rules: inputs decoded, time limits, error values."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Coroutine
from typing import Any, TypeVar

from loguru import logger
from pydantic import ValidationError

from fastproc.ogc.exceptions import InvalidParameterValue, OGCException, ProcessError
from fastproc.ogc.inputs import is_qualified
from fastproc.ogc.models import first_error

T = TypeVar("T")


class SoftTimeLimitExceeded(Exception):
    """The body ran past its time limit and was cancelled."""


def decode_input(value: Any) -> Any:
    """A received input occurrence as the process body wants it: qualified values unwrapped,
    base64 binary decoded to bytes, occurrences of multi-valued inputs each decoded."""
    if isinstance(value, list):
        return [decode_input(v) for v in value]
    if is_qualified(value):
        inner = value["value"]
        if value.get("encoding") == "base64" and isinstance(inner, str):
            return base64.b64decode(inner)
        return inner
    return value


def decode_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    return {name: decode_input(value) for name, value in inputs.items()}


async def run_with_limits(body: Coroutine[Any, Any, T], soft: float, grace: float) -> T:
    """Run `body`; past `soft` seconds cancel it (it may clean up), past `grace` more give up.

    A body that ignores cancellation (a thread, a C call) cannot hold the job hostage: the
    caller fails the job either way.
    """
    task = asyncio.ensure_future(body)
    try:
        done, _ = await asyncio.wait({task}, timeout=soft)
        if task in done:
            return task.result()
        task.cancel()
        await asyncio.wait({task}, timeout=grace)
        raise SoftTimeLimitExceeded(f"exceeded its time limit of {soft:g} s")
    finally:
        if not task.done():
            task.cancel()


def error_of(exc: BaseException, context: str) -> dict[str, Any]:
    """The exception document stored on a failed job; tracebacks stay in the worker's log."""
    if isinstance(exc, OGCException):
        problem = exc
    elif isinstance(exc, ValidationError):
        problem = InvalidParameterValue(f"{context}: {_first_error(exc)}")
    elif isinstance(exc, SoftTimeLimitExceeded):
        problem = ProcessError(f"{context} {exc}")
    else:
        logger.opt(exception=exc).error("{} raised", context)
        problem = ProcessError(f"{context} failed: {type(exc).__name__}: {exc}")
    return problem.to_dict()


def _first_error(exc: ValidationError) -> str:
    where, what = first_error(exc)
    return f"input '{where}': {what}" if where else what
