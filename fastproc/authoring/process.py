"""The one `Process` shape every authoring style produces, and the class style itself."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import anyio.to_thread
import orjson
import yaml

from fastproc.ogc.models import ProcessDescription


class Progress(Protocol):
    """Reports how far a job is; callable from async code and from worker threads alike."""

    def __call__(self, percent: float, message: str | None = None) -> None: ...


def no_progress(percent: float, message: str | None = None) -> None:
    """A `Progress` that reports nowhere, for calling processes outside a worker."""


@dataclass(frozen=True, slots=True)
class Binary:
    """An output of raw bytes and the media type they are in.

    >>> Binary(b"a,b\\n1,2\\n", "text/csv").media_type
    'text/csv'
    """

    data: bytes
    media_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class MediaType:
    """`Annotated[bytes, MediaType("image/png")]` declares a binary output's media type."""

    value: str


def load_description(path: str | Path) -> ProcessDescription:
    """A process description from a YAML or JSON file (process.yaml shape)."""
    text = Path(path).read_text(encoding="utf-8")
    data = orjson.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    return ProcessDescription.model_validate(data)


class BaseProcess:
    """A process as a class: an explicit description and an `execute` coroutine.

    ```python
    class Add(BaseProcess):
        description = ProcessDescription(id="add2", inputs={...}, outputs={...})

        async def execute(self, inputs, progress):
            return {"sum": inputs["a"] + inputs["b"]}
    ```
    A plain `def execute` runs in a worker thread so it never blocks the event loop.
    """

    description: ClassVar[ProcessDescription]
    #: Results may be cached: same inputs, same version -> same outputs.
    deterministic: ClassVar[bool] = False
    #: Inputs that make a request of a deterministic process bypass the cache when given
    #: (e.g. a pause: the caller wants to watch the job run, not an instant answer).
    uncached_inputs: ClassVar[frozenset[str]] = frozenset()
    #: Soft time limit in seconds (default: the `job_timeout` setting).
    timeout: ClassVar[float | None] = None
    #: Extra runs after the body raised (crash re-runs are governed by `max_tries`).
    max_retries: ClassVar[int] = 0
    #: arq queue of this process, so heavy processes can get their own workers.
    queue: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # fastprocesses spells the description `process_description`.
        legacy = cls.__dict__.get("process_description")
        if legacy is not None and "description" not in cls.__dict__:
            cls.description = legacy

    @property
    def id(self) -> str:
        return self.description.id

    async def execute(self, inputs: dict[str, Any], progress: Progress) -> Mapping[str, Any]:
        raise TypeError(f"{type(self).__name__} must define execute(self, inputs, progress)")

    async def run(self, inputs: dict[str, Any], progress: Progress) -> Mapping[str, Any]:
        """What the worker calls: the outputs by id, whatever style the body is written in."""
        outputs: Mapping[str, Any] = await call_maybe_sync(self.execute, inputs, progress)
        return outputs


async def call_maybe_sync(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Await a coroutine function, or run a plain function in a worker thread."""
    if inspect.iscoroutinefunction(fn):
        return await fn(*args, **kwargs)
    return await anyio.to_thread.run_sync(
        lambda: fn(*args, **kwargs), abandon_on_cancel=True
    )
