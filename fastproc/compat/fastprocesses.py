"""The names a fastprocesses process module imports, so porting is a change of imports.

```python
# before: from fastprocesses.core.base_process import BaseParallelProcess
from fastproc.compat.fastprocesses import BaseParallelProcess, ProcessDescription, ...
```
`process_description`, `exec_body`, `job_progress_callback`, `scheme=Schema(...)` and
`@register_process` mean what they meant there; the processes are found by fastproc's module
scan, so `register_process` only checks its argument.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from fastproc.authoring.fanout import BaseParallelProcess, BaseScatterProcess, parallel_step
from fastproc.authoring.process import BaseProcess
from fastproc.ogc import models

__all__ = [
    "BaseParallelProcess",
    "BaseProcess",
    "BaseScatterProcess",
    "ProcessDescription",
    "ProcessInput",
    "ProcessJobControlOptions",
    "ProcessOutput",
    "ProcessOutputTransmission",
    "Schema",
    "parallel_step",
    "register_process",
]

C = TypeVar("C", bound=type)


class ProcessJobControlOptions(StrEnum):
    SYNC_EXECUTE = "sync-execute"
    ASYNC_EXECUTE = "async-execute"
    DISMISS = "dismiss"


class ProcessOutputTransmission(StrEnum):
    VALUE = "value"
    REFERENCE = "reference"


class Schema(BaseModel):
    """A JSON Schema written as keyword arguments: `Schema(type="array", items={...})`."""

    model_config = ConfigDict(extra="allow")

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


def _schema(scheme: Schema | dict[str, Any] | None, schema: Any) -> dict[str, Any]:
    value = scheme if scheme is not None else schema
    if isinstance(value, Schema):
        return value.as_dict()
    return dict(value or {})


def _metadata(value: Any) -> list[models.Metadata] | None:
    if isinstance(value, dict):
        return [models.Metadata(title=str(k), value=v) for k, v in value.items()]
    return value  # type: ignore[no-any-return]


def ProcessInput(
    *, title: str | None = None, description: str | None = None,
    scheme: Schema | dict[str, Any] | None = None, schema: Any = None,
    minOccurs: int = 1, maxOccurs: int | str = 1,
    metadata: Any = None, keywords: list[str] | None = None,
) -> models.InputDescription:
    return models.InputDescription(
        title=title, description=description, schema=_schema(scheme, schema),
        minOccurs=minOccurs, maxOccurs=maxOccurs, metadata=_metadata(metadata),
        keywords=keywords)


def ProcessOutput(
    *, title: str | None = None, description: str | None = None,
    scheme: Schema | dict[str, Any] | None = None, schema: Any = None,
    metadata: Any = None, keywords: list[str] | None = None,
) -> models.OutputDescription:
    return models.OutputDescription(
        title=title, description=description, schema=_schema(scheme, schema),
        metadata=_metadata(metadata), keywords=keywords)


def ProcessDescription(**fields: Any) -> models.ProcessDescription:
    fields["metadata"] = _metadata(fields.get("metadata"))
    return models.ProcessDescription.model_validate(fields)


def register_process(process_id: str) -> Callable[[C], C]:
    """Kept for source compatibility; fastproc finds processes by scanning their module."""

    def keep(cls: C) -> C:
        return cls

    return keep
