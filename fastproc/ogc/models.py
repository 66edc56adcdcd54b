"""Pydantic models of the standard's documents (the schemas in core/openapi/schemas, 1.0).

They sit at the HTTP and Redis boundaries: authors build `ProcessDescription`s, the API
parses `ExecuteRequest`s, and the OpenAPI document shows these shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")

    def dump(self) -> dict[str, Any]:
        """The JSON form as the standard spells it: aliases, no unset optional members."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusCode(StrEnum):
    #: Part 4 (job management): defined by `POST /jobs`, not started yet (no task queued).
    CREATED = "created"
    ACCEPTED = "accepted"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    DISMISSED = "dismissed"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


#: The states a job never leaves: the one list of them (the Lua scripts get it from here,
#: see `fastproc.store.scripts`). Members compare equal to their text, so `"failed" in
#: TERMINAL_STATES` holds.
TERMINAL_STATES = frozenset({StatusCode.SUCCESSFUL, StatusCode.FAILED, StatusCode.DISMISSED})


class JobControlOption(StrEnum):
    SYNC = "sync-execute"
    ASYNC = "async-execute"
    DISMISS = "dismiss"


class TransmissionMode(StrEnum):
    VALUE = "value"
    REFERENCE = "reference"


class ResponseMode(StrEnum):
    RAW = "raw"
    DOCUMENT = "document"


class Link(_Doc):
    href: str
    rel: str | None = None
    type: str | None = None
    hreflang: str | None = None
    title: str | None = None


class Metadata(_Doc):
    title: str | None = None
    role: str | None = None
    href: str | None = None


class InputDescription(_Doc):
    title: str | None = None
    description: str | None = None
    keywords: list[str] | None = None
    metadata: list[Metadata] | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    minOccurs: int = 1
    maxOccurs: int | Literal["unbounded"] = 1


class OutputDescription(_Doc):
    title: str | None = None
    description: str | None = None
    keywords: list[str] | None = None
    metadata: list[Metadata] | None = None
    schema_: dict[str, Any] = Field(alias="schema")


class ProcessSummary(_Doc):
    id: str
    version: str = "1.0.0"
    title: str | None = None
    description: str | None = None
    keywords: list[str] | None = None
    metadata: list[Metadata] | None = None
    jobControlOptions: list[JobControlOption] = Field(
        default_factory=lambda: [JobControlOption.SYNC, JobControlOption.ASYNC,
                                 JobControlOption.DISMISS]
    )
    outputTransmission: list[TransmissionMode] = Field(
        default_factory=lambda: [TransmissionMode.VALUE, TransmissionMode.REFERENCE]
    )
    links: list[Link] | None = None


class ProcessDescription(ProcessSummary):
    """process.yaml: what a process takes and gives. Authors may load one from YAML/JSON."""

    inputs: dict[str, InputDescription] = Field(default_factory=dict)
    outputs: dict[str, OutputDescription] = Field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude={"inputs", "outputs"}
        )


class Format(_Doc):
    mediaType: str | None = None
    encoding: str | None = None
    schema_: str | dict[str, Any] | None = Field(None, alias="schema")


class OutputRequest(_Doc):
    format: Format | None = None
    transmissionMode: TransmissionMode = TransmissionMode.VALUE


class Subscriber(_Doc):
    successUri: str | None = None
    inProgressUri: str | None = None
    failedUri: str | None = None


class ExecuteRequest(_Doc):
    """execute.yaml, plus `mode` (sync/async/auto) as fastprocesses clients send it."""

    inputs: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, OutputRequest] | None = None
    response: ResponseMode = ResponseMode.RAW
    subscriber: Subscriber | None = None
    mode: Literal["sync", "async", "auto"] | None = None


class PartsDone(_Doc):
    done: int = Field(ge=0)
    total: int = Field(ge=0)


class StatusInfo(_Doc):
    processID: str | None = None
    type: Literal["process"] = "process"
    jobID: str
    status: StatusCode
    message: str | None = None
    created: str | None = None
    started: str | None = None
    finished: str | None = None
    updated: str | None = None
    progress: int | None = Field(None, ge=0, le=100)
    links: list[Link] | None = None
    parts: PartsDone | None = Field(
        None, alias="x-fastproc-parts",
        description="An extension of fastproc: how many parts of a fan-out job are done.")
    nodes: PartsDone | None = Field(
        None, alias="x-fastproc-nodes",
        description="An extension of fastproc: how many nested processes of a workflow "
                    "(OGC API - Processes - Part 3) are done; the job's own process ends it.")


class JobList(_Doc):
    jobs: list[StatusInfo]
    links: list[Link]


class ProcessList(_Doc):
    processes: list[ProcessSummary]
    links: list[Link]


class ConfClasses(_Doc):
    conformsTo: list[str]


class LandingPage(_Doc):
    title: str | None = None
    description: str | None = None
    links: list[Link]


class Exception_(_Doc):
    """exception.yaml (RFC 7807 problem details)."""

    type: str
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None


class _Errors(Protocol):
    """A pydantic `ValidationError` or FastAPI's `RequestValidationError`."""

    def errors(self) -> Sequence[Mapping[str, Any]]: ...


def first_error(exc: _Errors) -> tuple[str, str]:
    """(where, what) of the first error of a validation: its location, dotted (`''` at the
    top of the document), and pydantic's message. Each caller says it in its own sentence."""
    errors = exc.errors()
    if not errors:
        return "", "invalid"
    first = errors[0]
    return ".".join(str(p) for p in first.get("loc", ())), str(first.get("msg", "invalid"))
