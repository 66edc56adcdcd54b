"""Finding processes: import the configured modules and collect what they define."""

from __future__ import annotations

import importlib
import inspect
import traceback
from collections.abc import Iterable, Iterator
from types import ModuleType

from fastproc.authoring.process import BaseProcess


class DuplicateProcessError(ValueError):
    """Two different processes claim one id: a configuration error, caught at start-up."""


class ProcessModuleError(ImportError):
    """A module of processes cannot be imported: a configuration error, caught at start-up
    and told in one line that names the module and the reason."""

    def __init__(self, module: str, reason: str) -> None:
        super().__init__(f"cannot import process module '{module}': {reason}")
        self.module = module
        self.reason = reason


def _import_module(name: str) -> ModuleType:
    """Import a module of processes, or raise `ProcessModuleError` saying why not."""
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise ProcessModuleError(name, _why_not(name, exc)) from exc


def _why_not(module: str, exc: Exception) -> str:
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        if module == exc.name or module.startswith(f"{exc.name}."):
            return (f"no module named '{exc.name}' in the current directory or the "
                    "installed packages")
        return f"it imports '{exc.name}', which is not installed"
    if isinstance(exc, SyntaxError):
        return f"{exc.msg} ({exc.filename}, line {exc.lineno})"
    if isinstance(exc, ImportError):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _processes_in(module: object) -> Iterator[BaseProcess]:
    for value in vars(module).values():
        if isinstance(value, BaseProcess):
            yield value
        elif (
            inspect.isclass(value)
            and issubclass(value, BaseProcess)
            and "description" in _own_attributes(value)
            and not inspect.isabstract(value)
        ):
            yield value()


def _own_attributes(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is BaseProcess or klass.__module__.startswith("fastproc."):
            break
        names.update(vars(klass))
    return names


class Registry:
    """Process id -> process, as a worker sees them."""

    def __init__(self, processes: Iterable[BaseProcess] = ()) -> None:
        self._by_id: dict[str, BaseProcess] = {}
        for proc in processes:
            self.add(proc)

    @classmethod
    def from_modules(cls, modules: Iterable[str]) -> Registry:
        registry = cls()
        for name in modules:
            for proc in _processes_in(_import_module(name)):
                registry.add(proc)
        return registry

    def add(self, proc: BaseProcess) -> None:
        known = self._by_id.get(proc.id)
        if known is None:
            self._by_id[proc.id] = proc
        elif type(known) is not type(proc) or known.description != proc.description:
            raise DuplicateProcessError(f"two processes share the id '{proc.id}'")

    def get(self, process_id: str) -> BaseProcess | None:
        return self._by_id.get(process_id)

    def __iter__(self) -> Iterator[BaseProcess]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def longest_timeout(self, default: float) -> float:
        """The longest time limit of these processes (`default` for those without one)."""
        return max([default, *(p.timeout or 0 for p in self)])
