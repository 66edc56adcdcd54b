"""`fastproc dev --reload`: a supervisor that runs the dev server as a child process and
restarts it when a watched Python file changes.

The supervisor owns the embedded Valkey (the child gets its URL as FASTPROC_REDIS_URL), so
jobs and results survive every restart. The child runs in a process group of its own:
Ctrl-C in a terminal reaches only the supervisor, which passes the signal on once, so the
child stops as `fastproc dev` stops (running jobs get FASTPROC_SHUTDOWN_GRACE) before the
Valkey does. A second Ctrl-C is passed on too: the child then stops at once.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path
from types import FrameType

from loguru import logger

from fastproc.devserver.inloop import STOP_SIGNALS
from fastproc.extras import extra
from fastproc.settings import Settings

with extra("dev-server"):
    import watchfiles

#: Beyond the grace, what a stopping child may take (API shutdown, closing the worker).
STOP_MARGIN = 30.0
#: Milliseconds between looks at the child while no file changes.
_LOOK_EVERY_MS = 500


class Reloader:
    """Start the child, restart it on change, stop it on a signal."""

    def __init__(self, settings: Settings, cwd: Path | None = None) -> None:
        self._settings = settings
        self._cwd = (cwd or Path.cwd()).resolve()
        self._signals: list[signal.Signals] = []
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self._reported_exit = False

    def run(self) -> int:
        paths = watched_paths(self._settings.processes, self._cwd)
        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # we say what changed
        logger.info("reloading on changes to Python files in {}",
                    ", ".join(str(p) for p in paths))
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in STOP_SIGNALS}
        try:
            self._child = self._spawn()
            for changes in watchfiles.watch(
                    *paths, watch_filter=watchfiles.PythonFilter(), stop_event=self._stopping,
                    rust_timeout=_LOOK_EVERY_MS, yield_on_timeout=True, raise_interrupt=False):
                if changes:
                    self._restart(changes)
                else:
                    self._notice_exit()
        finally:
            if self._child is not None:
                self._stop_child(self._child, self._signals[0] if self._signals
                                 else signal.SIGTERM)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        sig = signal.Signals(signum)
        self._signals.append(sig)
        self._stopping.set()
        if len(self._signals) > 1 and self._child is not None and self._child.poll() is None:
            self._child.send_signal(sig)  # the child's "stop now"

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._reported_exit = False
        settings = self._settings
        args = [sys.executable, "-m", "fastproc", "dev", "--host", settings.host,
                "--port", str(settings.port), "--processes", ",".join(settings.processes),
                "--supervisor", str(os.getpid())]
        env = {**os.environ, "FASTPROC_REDIS_URL": settings.redis_url or ""}
        return subprocess.Popen(args, cwd=self._cwd, env=env, stdin=subprocess.DEVNULL,
                                process_group=0)

    def _restart(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        names = sorted({os.path.relpath(path, self._cwd) for _, path in changes})
        logger.info("{} changed: restarting", ", ".join(names))
        if self._child is not None:
            self._stop_child(self._child, signal.SIGTERM)
        if not self._stopping.is_set():
            self._child = self._spawn()

    def _notice_exit(self) -> None:
        child = self._child
        if child is None or self._reported_exit or child.poll() is None:
            return
        self._reported_exit = True
        logger.warning("the dev server exited (code {}); restarting when a file changes",
                       child.returncode)

    def _stop_child(self, child: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        if child.poll() is not None:
            return
        child.send_signal(sig)
        try:
            child.wait(timeout=self._settings.shutdown_grace + STOP_MARGIN)
        except subprocess.TimeoutExpired:
            logger.warning("the dev server did not stop in time; killing it")
            child.kill()
            child.wait()


def watched_paths(modules: list[str], cwd: Path) -> list[Path]:
    """The current directory, and where each process module's top-level package lives
    when that is elsewhere (installed packages excepted: editing them is rare). Found
    without importing anything of the user's: only top-level names are looked up."""
    installed = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    paths = {cwd}
    for name in modules:
        for location in _locations(name.split(".")[0]):
            if not any(location.is_relative_to(root) for root in installed):
                paths.add(location)
    return sorted(p for p in paths
                  if not any(p != other and p.is_relative_to(other) for other in paths))


def _locations(top_level: str) -> list[Path]:
    try:
        spec = importlib.util.find_spec(top_level)
    except (ImportError, ValueError):
        return []  # the child reports it, in one line
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [Path(p).resolve() for p in spec.submodule_search_locations]
    return [Path(spec.origin).resolve()] if spec.origin and spec.has_location else []
