"""What a worker's runtime tells whoever watches its tasks: each task it runs, and the
outcome of each job such a task ends.

The runtime only reports; what is made of the reports (the dashboard's figures, a job's
log and its parts' run times: `fastproc.worker.telemetry.WorkerInsights`) is the
observer's. A runtime built without one reports to `NO_OBSERVER`, which does nothing,
so a test can run a task function with a bare runtime.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class TaskObserver(Protocol):
    """Told by the runtime about the job that the task it watches ends."""

    async def job_ending(self) -> None:
        """Just before the job's outcome is stored (what the task holds of the job, its
        log, goes first, so it is complete once the job has ended)."""

    def job_succeeded(self) -> None:
        """The task stored the job's results."""

    def job_failed(self) -> None:
        """The task stored the job's failure."""


class WorkerObserver(Protocol):
    """Told by the runtime about every task it runs."""

    def task(self, task_id: str, kind: str,
             tries: int) -> AbstractAsyncContextManager[TaskObserver]:
        """Around one task (arq id `task_id`; `kind`: job, part, merge or node; `tries`:
        this one included): what the task's reports go to while it runs."""
        ...


class NoObserver:
    """Watches nothing: the runtime's observer outside a task, and without telemetry."""

    async def job_ending(self) -> None:
        return None

    def job_succeeded(self) -> None:
        return None

    def job_failed(self) -> None:
        return None

    @contextlib.asynccontextmanager
    async def task(self, task_id: str, kind: str, tries: int) -> AsyncIterator[TaskObserver]:
        yield self


NO_OBSERVER = NoObserver()
