"""`fastproc dev`: the whole service in one command, for writing processes.

An embedded Valkey (unless FASTPROC_REDIS_URL is set) keeps its data in a directory, so
jobs and results outlive a restart; the API and a worker share one event loop (`inloop`).
With `--reload` a supervisor (`reload`) owns the Valkey and restarts the API and worker in
a child process whenever a watched Python file changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from fastproc.authoring.registry import ProcessModuleError, Registry
from fastproc.embedded import DEFAULT_DATA_DIR, embedded_valkey
from fastproc.lifeline import signal_on_parent_death
from fastproc.settings import Settings

__all__ = ["DEFAULT_DATA_DIR", "DevOptions", "dev"]


@dataclass(frozen=True)
class DevOptions:
    """How `fastproc dev` runs: where the embedded Valkey keeps its data (None: a temporary
    directory, removed at exit) and whether code changes restart the server."""

    data_dir: Path | None = DEFAULT_DATA_DIR
    reload: bool = False
    #: The pid of the reloading supervisor that started this dev server as its child.
    supervisor: int | None = None


def dev(settings: Settings, options: DevOptions) -> int:
    """Run until Ctrl-C / SIGTERM; returns the exit code."""
    _check_module_names(settings.processes)
    _interrupt_on_sigterm()
    if not settings.output_store and options.data_dir is not None:
        # Large outputs go to files beside the dev data, not into the embedded Valkey.
        settings.output_store = (options.data_dir / "outputs").resolve().as_uri()
    if options.supervisor is not None:  # it owns Valkey: stop when it is gone
        signal_on_parent_death(signal.SIGTERM, options.supervisor)
    if options.reload:
        from fastproc.devserver.reload import Reloader

        # The supervisor imports no process: its child does, on every restart.
        with _redis(settings, options):
            return Reloader(settings).run()
    from fastproc.devserver.inloop import run_dev

    # Imported before anything starts: a module that cannot be imported stops here.
    registry = Registry.from_modules(settings.processes)
    with _redis(settings, options):
        logger.info(banner(settings))
        try:
            return asyncio.run(run_dev(settings, registry))
        finally:
            _interrupt_on_sigterm()  # closing the event loop reset it


def banner(settings: Settings) -> str:
    """Where the dev server is, and the pages a newcomer looks for first."""
    url = f"http://{settings.host}:{settings.port}"
    return (f"fastproc dev on {url} (API documentation {url}/api.html, "
            f"dashboard {url}/dashboard)")


def _check_module_names(modules: list[str]) -> None:
    """`--processes mystats.py` names a file; the import would say only that there is no
    module `mystats.py`, so say which name to give."""
    for module in modules:
        path = Path(module)
        if path.suffix == ".py" or "/" in module:
            relative = path.with_suffix("") if path.suffix == ".py" else path
            dotted = relative.name if path.is_absolute() else ".".join(relative.parts)
            raise ProcessModuleError(
                module, f"give a module name, not a file: --processes {dotted.strip('.')}")


def _interrupt_on_sigterm() -> None:
    """Outside the servers' own handlers, SIGTERM and SIGHUP interrupt as Ctrl-C does
    (instead of ending the process at once), so that the embedded Valkey, which runs in a
    session of its own, is still stopped on the way out."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.default_int_handler)


@contextlib.contextmanager
def _redis(settings: Settings, options: DevOptions) -> Iterator[None]:
    """The embedded Valkey, unless FASTPROC_REDIS_URL names a server; it stops last."""
    if settings.redis_url:
        yield
        return
    with embedded_valkey(options.data_dir, detached=True) as url:
        settings.redis_url = url
        where = options.data_dir or "a temporary directory (--ephemeral)"
        logger.info("embedded Valkey at {}, data in {}", url, where)
        yield
