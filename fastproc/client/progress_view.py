"""Showing a job as it runs: a rich progress bar on a terminal, or one plain line per change
of status, progress or message (pipes, logs, CI, tests) where a bar would be noise."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Protocol, Self

from fastproc.extras import extra
from fastproc.ogc.models import StatusCode, StatusInfo

with extra("client"):
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )


class JobView(Protocol):
    """Shown while a job is followed; `show` gets every status, repeated ones included."""

    def __enter__(self) -> Self: ...

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def show(self, status: StatusInfo) -> None: ...


class PlainView:
    """`job <id>: running  40% slept 0.20 of 0.5 s`, once per change."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._last: tuple[StatusCode, int | None, str | None] | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def show(self, status: StatusInfo) -> None:
        seen = (status.status, status.progress, status.message)
        if seen == self._last:
            return
        self._last = seen
        progress = f" {status.progress:3d}%" if status.progress is not None else ""
        message = f" {_message(status)}" if _message(status) else ""
        self.console.print(f"job {status.jobID}: {status.status.value}{progress}{message}",
                           markup=False, highlight=False, soft_wrap=True)


class BarView:
    """A live bar with the job's state, percentage, message and elapsed time."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.fields[state]}"), BarColumn(),
            TaskProgressColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console,
        )
        self.task = TaskID(0)
        self.job_id: str | None = None

    def __enter__(self) -> Self:
        self.progress.start()
        self.task = self.progress.add_task("", total=None, state="accepted")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.progress.stop()

    def show(self, status: StatusInfo) -> None:
        if status.jobID != self.job_id:
            self.job_id = status.jobID
            self.progress.console.print(f"job {status.jobID}", markup=False, highlight=False)
        done = status.status is StatusCode.SUCCESSFUL
        progress = 100 if done else status.progress
        self.progress.update(
            self.task, state=status.status.value, description=escape(_message(status)),
            total=None if progress is None else 100, completed=progress or 0,
        )


def _message(status: StatusInfo) -> str:
    """The job's message, unless it only repeats the status (fastproc says "running"). A
    running workflow's says what its percentage counts: the nested processes, then the
    job's own process (so "2 of 2" done is not 100 %)."""
    nodes = status.nodes
    if nodes is not None and not status.status.terminal:
        last = status.processID or "its own process"
        then = f"{last} running" if nodes.done >= nodes.total else f"then {last}"
        return f"{nodes.done} of {nodes.total} nested processes done, {then}"
    message = status.message or ""
    return "" if message == status.status.value else message


def job_view(console: Console, *, plain: bool) -> JobView:
    """The bar on a terminal unless `plain`; plain lines everywhere else."""
    if plain or not console.is_terminal:
        return PlainView(console)
    return BarView(console)


def waiting(console: Console, text: str, *, plain: bool) -> contextlib.AbstractContextManager[
        object]:
    """A spinner on a terminal while a synchronous execution is answered; nothing elsewhere."""
    if plain or not console.is_terminal:
        return contextlib.nullcontext()
    return console.status(escape(text))
