"""Child processes that must not outlive their parent, even one killed outright.

`fastproc dev` keeps its embedded Valkey (and, with `--reload`, its dev server) out of the
terminal's process group, so that Ctrl-C reaches only the parent, which stops them in
order. The price: a parent killed with SIGKILL, or by a closed terminal, would leave them
running. On Linux the kernel can signal a child when its parent dies (prctl
PR_SET_PDEATHSIG); elsewhere these functions do nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def signal_on_parent_death(sig: signal.Signals, parent: int) -> None:
    """Called in the child: receive `sig` when `parent` dies (at once if it already has).
    The kernel watches the thread that started the child: start it from the main thread."""
    if sys.platform != "linux":
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig))
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)


def before_exec(sig: signal.Signals) -> Callable[[], None] | None:
    """A `preexec_fn` for a child that is not Python (Valkey): the same, set between fork
    and exec. Use it only from a process with no other threads yet."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    parent = os.getpid()

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig))
        if os.getppid() != parent:
            os.kill(os.getpid(), sig)

    return in_child
