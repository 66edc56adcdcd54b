"""fastproc: async Python functions as a fast, crash-safe OGC API - Processes service.

Authoring names import light; the server parts (`create_app`, `create_worker`,
`worker_settings`, `WorkerSettings`) load on first use, so a process module or the client
does not pull in the web stack. `arq fastproc.WorkerSettings` runs a worker configured from
`FASTPROC_*` variables, read once when arq first asks for them, not when fastproc is
imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastproc.authoring.fanout import BaseParallelProcess, BaseScatterProcess, parallel_step
from fastproc.authoring.process import (
    BaseProcess,
    Binary,
    MediaType,
    Progress,
    load_description,
    no_progress,
)
from fastproc.authoring.registry import Registry
from fastproc.authoring.typed import process
from fastproc.authoring.types import BBox
from fastproc.ogc.exceptions import OGCException, ProcessError
from fastproc.ogc.models import InputDescription, OutputDescription, ProcessDescription
from fastproc.settings import Settings

if TYPE_CHECKING:
    from fastproc.api.app import create_app
    from fastproc.worker.launch import create_worker, worker_settings

__all__ = [
    "BBox",
    "BaseParallelProcess",
    "BaseProcess",
    "BaseScatterProcess",
    "Binary",
    "InputDescription",
    "MediaType",
    "OGCException",
    "OutputDescription",
    "ProcessDescription",
    "ProcessError",
    "Progress",
    "Registry",
    "Settings",
    "WorkerSettings",
    "create_app",
    "create_worker",
    "load_description",
    "no_progress",
    "parallel_step",
    "process",
    "worker_settings",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from fastproc.api.app import create_app

        return create_app
    if name in ("create_worker", "worker_settings"):
        from fastproc.worker import launch

        return getattr(launch, name)
    if name == "WorkerSettings":
        # Built once, on first use (arq's CLI asks once; `arq --check` too): a module global
        # from then on, so later lookups do not reach here.
        from fastproc.worker.launch import arq_cli_settings

        built = arq_cli_settings(Settings())
        globals()["WorkerSettings"] = built
        return built
    raise AttributeError(f"module 'fastproc' has no attribute {name!r}")
