"""fastproc: async Python functions as a fast, crash-safe OGC API - Processes service.

`arq fastproc.WorkerSettings` runs a worker configured from `FASTPROC_*` variables; the
settings are read when arq asks for them, not when fastproc is imported.
"""

from __future__ import annotations

from typing import Any

from fastproc.api.app import create_app
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
from fastproc.queue.worker import create_worker, worker_settings
from fastproc.settings import Settings

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
    if name == "WorkerSettings":
        return worker_settings(Settings())
    raise AttributeError(f"module 'fastproc' has no attribute {name!r}")
