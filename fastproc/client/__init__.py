"""A client of any OGC API - Processes 1.0 server: `OGCClient` for Python, and the
`fastproc run | processes | jobs` commands built on it (`fastproc.client.commands`).

>>> from fastproc.client import OGCClient
>>> with OGCClient("http://127.0.0.1:8000") as ogc:
...     [p.id for p in ogc.processes(limit=10)]
"""

from __future__ import annotations

from fastproc.client.errors import (
    ClientError,
    InputError,
    Interrupted,
    JobUnsuccessful,
    ServerError,
    UnexpectedAnswer,
    Unreachable,
    WaitTimeout,
)
from fastproc.client.follow import Watch, follow
from fastproc.client.http import Answer, EventsUnavailable, OGCClient
from fastproc.client.values import parse_inputs

__all__ = [
    "Answer",
    "ClientError",
    "EventsUnavailable",
    "InputError",
    "Interrupted",
    "JobUnsuccessful",
    "OGCClient",
    "ServerError",
    "UnexpectedAnswer",
    "Unreachable",
    "WaitTimeout",
    "Watch",
    "follow",
    "parse_inputs",
]
