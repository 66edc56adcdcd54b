"""The API's HTTP server as uvicorn runs it: the protocol built from settings, and the
server without signal handling that `fastproc dev` runs. uvicorn's internals stay in
`fastproc.api._uvicorn`; this is what the commands import.

`http_protocol(settings)` is what both `fastproc serve` and `fastproc dev` pass to uvicorn:

    uvicorn.Config(app, http=http_protocol(settings), ...)
"""

from __future__ import annotations

import asyncio
import functools
from typing import cast

from fastproc.api._uvicorn import HeadLimits, QuietServer, TimedHttpToolsProtocol
from fastproc.settings import Settings

__all__ = ["HeadLimits", "QuietServer", "http_protocol"]


def http_protocol(settings: Settings) -> type[asyncio.Protocol]:
    """The `http` argument of `uvicorn.Config`/`uvicorn.run` for these settings: request
    heads bounded in time and size.

    uvicorn calls it with the protocol's arguments, so a partial of the class stands in for
    a class; unlike a class made here, it pickles for `fastproc serve --workers N`.
    """
    factory = functools.partial(TimedHttpToolsProtocol, header_timeout=settings.header_timeout,
                                body_timeout=settings.body_timeout,
                                limits=HeadLimits.of(settings))
    return cast(type[asyncio.Protocol], factory)
