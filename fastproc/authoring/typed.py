"""`@process`: a typed `async def` becomes a process whose description comes from its hints."""

from __future__ import annotations

import inspect
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Mapping,
    Sequence,
)
from pathlib import PurePath
from typing import Annotated, Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel, TypeAdapter, create_model
from pydantic.fields import FieldInfo
from typing_extensions import is_typeddict

from fastproc.authoring.process import BaseProcess, Binary, MediaType, Progress, call_maybe_sync
from fastproc.authoring.types import BBOX_SCHEMA, BBox
from fastproc.ogc.models import (
    InputDescription,
    JobControlOption,
    OutputDescription,
    ProcessDescription,
    TransmissionMode,
)
from fastproc.ogc.schema import to_oas30

PROGRESS_PARAMETER = "progress"
DEFAULT_OUTPUT = "result"


def _schema_of(hint: Any) -> dict[str, Any]:
    if _base(hint) is BBox:
        return dict(BBOX_SCHEMA)
    media = _media_type(hint)
    if media is not None or _is_binary(_base(hint)):
        return {"type": "string", "format": "binary",
                "contentMediaType": media or "application/octet-stream"}
    schema: dict[str, Any] = to_oas30(TypeAdapter(hint).json_schema())
    return schema


def _is_binary(base: Any) -> bool:
    """Bytes in any form an output may take: held (`bytes`, `Binary`), a file the process
    wrote (`Path`), or a stream (an async iterator of bytes); the last two are uploaded
    to the output store in parts, never held whole."""
    if base in (bytes, Binary) or (inspect.isclass(base) and issubclass(base, PurePath)):
        return True
    return get_origin(base) in (AsyncIterator, AsyncIterable, AsyncGenerator)


def _base(hint: Any) -> Any:
    return get_args(hint)[0] if get_origin(hint) is Annotated else hint


def _media_type(hint: Any) -> str | None:
    if get_origin(hint) is Annotated:
        for extra in get_args(hint)[1:]:
            if isinstance(extra, MediaType):
                return extra.value
    return None


def _field_text(hint: Any, key: str) -> str | None:
    if get_origin(hint) is Annotated:
        for extra in get_args(hint)[1:]:
            if isinstance(extra, FieldInfo) and getattr(extra, key):
                return str(getattr(extra, key))
    return None


def _output_fields(return_hint: Any, output: str) -> dict[str, Any]:
    base = _base(return_hint)
    if inspect.isclass(base) and issubclass(base, BaseModel):
        return {name: f.annotation for name, f in base.model_fields.items()}
    if is_typeddict(base):
        return dict(get_type_hints(base, include_extras=True))
    return {output: return_hint}


class FunctionProcess(BaseProcess):
    """A process made from a function; calling it still calls the function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        description: ProcessDescription,
        *,
        deterministic: bool,
        timeout: float | None,
        max_retries: int,
        queue: str | None,
        output: str,
    ) -> None:
        self.fn = fn
        self.description = description  # type: ignore[misc]
        self.deterministic = deterministic  # type: ignore[misc]
        self.timeout = timeout  # type: ignore[misc]
        self.max_retries = max_retries  # type: ignore[misc]
        self.queue = queue  # type: ignore[misc]
        self._output = output
        hints = get_type_hints(fn, include_extras=True)
        params = inspect.signature(fn).parameters
        self._wants_progress = PROGRESS_PARAMETER in params
        self._multi_output = set(description.outputs) != {output}
        fields: dict[str, Any] = {}
        for name, param in params.items():
            if name == PROGRESS_PARAMETER:
                continue
            default = ... if param.default is inspect.Parameter.empty else param.default
            fields[name] = (hints.get(name, Any), default)
        self._inputs_model = create_model(f"{description.id}_inputs", **fields)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    async def run(self, inputs: dict[str, Any], progress: Progress) -> Mapping[str, Any]:
        parsed = self._inputs_model.model_validate(inputs)
        kwargs = {name: getattr(parsed, name) for name in type(parsed).model_fields}
        if self._wants_progress:
            kwargs[PROGRESS_PARAMETER] = progress
        result = await call_maybe_sync(self.fn, **kwargs)
        if not self._multi_output:
            return {self._output: result}
        if isinstance(result, BaseModel):
            return {name: getattr(result, name) for name in type(result).model_fields}
        return dict(result)


def process(
    fn: Callable[..., Any] | None = None,
    *,
    id: str | None = None,
    title: str | None = None,
    description: str | None = None,
    keywords: Sequence[str] = (),
    version: str = "1.0.0",
    job_control: Sequence[JobControlOption | str] = ("sync-execute", "async-execute", "dismiss"),
    output_transmission: Sequence[TransmissionMode | str] = ("value", "reference"),
    output: str = DEFAULT_OUTPUT,
    deterministic: bool = False,
    timeout: float | None = None,
    max_retries: int = 0,
    queue: str | None = None,
) -> Any:
    """Turn a typed function into a process.

    ```python
    @process(version="1.0.0", deterministic=True, output="sum")
    async def add(a: float, b: float) -> float:
        return a + b
    ```
    Inputs come from the parameters (a default makes one optional; `Annotated[x, Field(...)]`
    adds bounds, titles and descriptions), outputs from the return type: a pydantic model or
    TypedDict gives one output per field, anything else one output named `output`. A
    parameter named `progress` receives the job's progress reporter.
    """

    def wrap(fn: Callable[..., Any]) -> FunctionProcess:
        hints = get_type_hints(fn, include_extras=True)
        inputs: dict[str, InputDescription] = {}
        for name, param in inspect.signature(fn).parameters.items():
            if name == PROGRESS_PARAMETER:
                continue
            hint = hints.get(name, Any)
            schema = _schema_of(hint)
            optional = param.default is not inspect.Parameter.empty
            if optional and param.default is not None:
                schema.setdefault("default", TypeAdapter(hint).dump_python(
                    param.default, mode="json"))
            inputs[name] = InputDescription(
                title=_field_text(hint, "title") or name,
                description=_field_text(hint, "description"),
                schema=schema,
                minOccurs=0 if optional else 1,
                maxOccurs=1,
            )
        return_hint = hints.get("return", Any)
        outputs = {
            name: OutputDescription(title=_field_text(h, "title") or name,
                                    description=_field_text(h, "description"),
                                    schema=_schema_of(h))
            for name, h in _output_fields(return_hint, output).items()
        }
        doc = inspect.getdoc(fn)
        first_line = doc.splitlines()[0] if doc else fn.__name__
        desc = ProcessDescription(
            id=id or fn.__name__,
            version=version,
            title=title or first_line.split(": ", 1)[0].rstrip("."),
            description=description or doc,
            keywords=list(keywords) or None,
            jobControlOptions=[JobControlOption(j) for j in job_control],
            outputTransmission=[TransmissionMode(t) for t in output_transmission],
            inputs=inputs,
            outputs=outputs,
        )
        return FunctionProcess(fn, desc, deterministic=deterministic, timeout=timeout,
                               max_retries=max_retries, queue=queue, output=output)

    return wrap(fn) if fn is not None else wrap


__all__ = ["FunctionProcess", "process"]
