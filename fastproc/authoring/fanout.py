"""Fan-out processes: data-parallel (split -> map -> merge) and operation scatter.

Workers run each item or step as its own task and join them with a counter in Redis (see
`fastproc.worker.fanout_tasks`); the authoring side only says how to split, what one part does and
how to merge. Method signatures of fastprocesses (`exec_body`, `job_progress_callback`) are
accepted as they are, so porting a process is a change of imports.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel

from fastproc.authoring.process import BaseProcess, Progress, call_maybe_sync

T = TypeVar("T")
_STEP_MARK = "_fastproc_parallel_step"
_EXEC_BODY = "exec_body"


def parallel_step(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a method of a `BaseScatterProcess` as one step; its name keys `merge_results`."""
    setattr(fn, _STEP_MARK, True)
    return fn


def to_jsonable(value: Any) -> Any:
    """What a part result is stored as: models as their dict (as fastprocesses does)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def _takes_exec_body(fn: Callable[..., Any]) -> bool:
    params = list(inspect.signature(fn).parameters)
    return bool(params) and params[0] == _EXEC_BODY


def _positional_count(fn: Callable[..., Any]) -> int:
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 1_000
    return sum(p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                          inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params)


def _input_argument(fn: Callable[..., Any], inputs: dict[str, Any]) -> Any:
    return {"inputs": inputs} if _takes_exec_body(fn) else inputs


async def _call_with(fn: Callable[..., Any], *args: Any) -> Any:
    """Call with as many leading arguments as `fn` accepts (merge_results(results[, body]))."""
    return await call_maybe_sync(fn, *args[:_positional_count(fn)])


class FanOutProcess(BaseProcess):
    """What the worker's join needs of any fan-out process."""

    #: Whether `run_part` reads the job's inputs (scatter steps do; data parts have their
    #: item), so a worker loads them only when needed.
    parts_need_inputs: ClassVar[bool] = True

    async def parts(self, inputs: dict[str, Any]) -> list[tuple[str, Any]]:
        """(part key, item) pairs; the item is stored once and handed to `run_part`."""
        raise TypeError(f"{type(self).__name__} is not a complete fan-out process")

    async def run_part(self, key: str, item: Any, inputs: dict[str, Any],
                       progress: Progress) -> Any:
        raise TypeError(f"{type(self).__name__} is not a complete fan-out process")

    async def merge(self, keys_and_results: list[tuple[str, Any]],
                    inputs: dict[str, Any]) -> Mapping[str, Any]:
        raise TypeError(f"{type(self).__name__} is not a complete fan-out process")

    async def run(self, inputs: dict[str, Any], progress: Progress) -> Mapping[str, Any]:
        """Everything in one coroutine, in order: for calling a process outside a worker."""
        results = [(key, to_jsonable(await self.run_part(key, item, inputs, progress)))
                   for key, item in await self.parts(inputs)]
        return await self.merge(results, inputs)


class BaseParallelProcess(FanOutProcess):
    """Data fan-out: `split_inputs` -> `execute_single` per item -> `merge_results`.

    ```python
    class BatchUpper(BaseParallelProcess):
        description = ProcessDescription(id="upper", ...)
        chunk_size = 100

        def split_inputs(self, inputs):
            return list(self.chunks(inputs["words"]))

        async def execute_single(self, item, progress):
            return [w.upper() for w in item]

        def merge_results(self, results):
            return {"words": [w for chunk in results for w in chunk]}
    ```
    Results reach `merge_results` in split order, whichever worker ran them.
    """

    #: Default size of a chunk for `chunks`; a request may pass its own hint.
    chunk_size: ClassVar[int] = 100
    parts_need_inputs: ClassVar[bool] = False

    def chunks(self, sequence: Sequence[T], size: int | None = None) -> list[Sequence[T]]:
        step = max(1, size or self.chunk_size)
        return [sequence[i:i + step] for i in range(0, len(sequence), step)]

    def split_inputs(self, inputs: dict[str, Any]) -> list[Any]:
        raise TypeError(f"{type(self).__name__} must define split_inputs")

    async def execute_single(self, item: Any, progress: Progress) -> Any:
        raise TypeError(f"{type(self).__name__} must define execute_single")

    def merge_results(self, results: list[Any]) -> Mapping[str, Any]:
        raise TypeError(f"{type(self).__name__} must define merge_results")

    async def parts(self, inputs: dict[str, Any]) -> list[tuple[str, Any]]:
        items = await call_maybe_sync(self.split_inputs,
                                      _input_argument(self.split_inputs, inputs))
        # Keys of one width (`07` of `12`): parts queued together are claimed in the order of
        # their ids, which then is the order of the items (part 2 before part 10).
        width = len(str(max(len(items) - 1, 0)))
        return [(f"{i:0{width}d}", item) for i, item in enumerate(items)]

    async def run_part(self, key: str, item: Any, inputs: dict[str, Any],
                       progress: Progress) -> Any:
        return await call_maybe_sync(self.execute_single, item, progress)

    async def merge(self, keys_and_results: list[tuple[str, Any]],
                    inputs: dict[str, Any]) -> Mapping[str, Any]:
        ordered = [result for _, result in sorted(keys_and_results, key=lambda kr: int(kr[0]))]
        merged: Mapping[str, Any] = await _call_with(
            self.merge_results, ordered, {"inputs": inputs}, None)
        return merged


class BaseScatterProcess(FanOutProcess):
    """Operation scatter: every `@parallel_step` method runs as its own task on the same
    input, then `merge_results({step_name: result, ...})` builds the outputs.

    The input is stored once (in the job record), never copied into each task message.
    """

    def merge_results(self, results: dict[str, Any]) -> Mapping[str, Any]:
        raise TypeError(f"{type(self).__name__} must define merge_results")

    def steps(self) -> dict[str, Callable[..., Any]]:
        names: list[str] = []
        for klass in type(self).__mro__:
            for name, attr in vars(klass).items():
                if getattr(attr, _STEP_MARK, False) and name not in names:
                    names.append(name)
        return {name: getattr(self, name) for name in names}

    async def parts(self, inputs: dict[str, Any]) -> list[tuple[str, Any]]:
        return [(name, None) for name in self.steps()]

    async def run_part(self, key: str, item: Any, inputs: dict[str, Any],
                       progress: Progress) -> Any:
        step = self.steps()[key]
        return await _call_with(step, _input_argument(step, inputs), progress)

    async def merge(self, keys_and_results: list[tuple[str, Any]],
                    inputs: dict[str, Any]) -> Mapping[str, Any]:
        merged: Mapping[str, Any] = await _call_with(
            self.merge_results, dict(keys_and_results), {"inputs": inputs}, None)
        return merged
