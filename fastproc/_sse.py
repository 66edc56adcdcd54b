"""sse-starlette's process-wide state, and the only module that touches it: ending every
open event stream when a server stops, and clearing that for the next server.

sse-starlette ends its streams when `AppStatus.should_exit` is set, which its own patch of
uvicorn's `Server.handle_exit` does; a server that handles the signals itself
(`fastproc dev`) must set it. Nothing in sse-starlette ever resets it, so a second server
in the same process (a test, a restart in the same interpreter) would end each stream as
soon as it starts. Tested against sse-starlette 2.1 to 3.7 (`pyproject.toml` caps it;
`tests/test_sse_adapter.py`). A safety hook, not a speed one: it stays on with
`FASTPROC_FAST_PATHS=0`.
"""

from __future__ import annotations

from sse_starlette.sse import AppStatus


def end_streams() -> None:
    """Every event stream of this process ends (within sse-starlette's half-second poll):
    the server is stopping."""
    AppStatus.should_exit = True


def allow_streams() -> None:
    """Streams stay open again: a server starts in a process where one stopped before."""
    AppStatus.should_exit = False
