"""Processes whose outputs outgrow the inline limit: streamed, written to a file, or held."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import anyio

from fastproc import (
    BaseParallelProcess,
    InputDescription,
    MediaType,
    OutputDescription,
    ProcessDescription,
    Progress,
    process,
)
from tests.gated import block_at, wait_at

CHUNK = 1024 * 1024


def pattern(size: int) -> bytes:
    """The bytes every process here returns for `size`: a test computes the same."""
    block = bytes(range(256)) * (CHUNK // 256)
    whole, rest = divmod(size, CHUNK)
    return block * whole + block[:rest]


async def _chunks(size: int) -> AsyncIterator[bytes]:
    block = bytes(range(256)) * (CHUNK // 256)
    sent = 0
    while sent < size:
        part = block[: min(CHUNK, size - sent)]
        sent += len(part)
        yield part


@process(id="stream-bytes")
async def stream_bytes(size: int) -> Annotated[AsyncIterator[bytes],
                                               MediaType("application/octet-stream")]:
    """`size` bytes, yielded a MiB at a time."""
    return _chunks(size)


@process(id="file-bytes")
async def file_bytes(size: int) -> Annotated[Path, MediaType("application/octet-stream")]:
    """`size` bytes, written to a file first."""
    path = Path(tempfile.mkdtemp()) / "out.bin"
    with path.open("wb") as out:
        async for chunk in _chunks(size):
            out.write(chunk)
    return path


@process(id="held-bytes")
async def held_bytes(size: int) -> Annotated[bytes, MediaType("image/png")]:
    """`size` bytes held in memory, as processes return them today."""
    return pattern(size)


class TwoOutputs(TypedDict):
    data: Annotated[bytes, MediaType("application/octet-stream")]
    note: str


@process(id="two-outputs")
async def two_outputs(size: int) -> TwoOutputs:
    """A large binary output and a small text one (a multipart answer when raw)."""
    return {"data": pattern(size), "note": "hello"}


@process(id="not-bytes-stream")
async def not_bytes_stream() -> Annotated[AsyncIterator[bytes],
                                          MediaType("application/octet-stream")]:
    """A stream that yields text: the job fails, saying so."""
    async def texts() -> AsyncIterator[bytes]:
        yield b"x" * 10
        yield "not bytes"  # type: ignore[misc]
    return texts()


@process(id="gated-stream")
async def gated_stream(gate: str) -> Annotated[AsyncIterator[bytes],
                                               MediaType("application/octet-stream")]:
    """Yields 2 MiB, then waits until the file `gate` exists before yielding the rest."""
    async def chunks() -> AsyncIterator[bytes]:
        yield pattern(2 * CHUNK)
        while not await anyio.Path(gate).exists():  # noqa: ASYNC110 (the gate is a file)
            await asyncio.sleep(0.05)
        yield pattern(CHUNK)
    return chunks()


class BigParts(BaseParallelProcess):
    """`n` parts, each giving a text of `size` characters (over the inline limit, so each
    goes to the output store on its way to the merge); the merge waits at gate `merge`
    when `gate` names a directory."""

    description = ProcessDescription(
        id="big-parts",
        inputs={
            "n": InputDescription(schema={"type": "integer", "minimum": 1, "maximum": 20}),
            "size": InputDescription(schema={"type": "integer", "minimum": 0}),
            "gate": InputDescription(schema={"type": "string"}, minOccurs=0),
        },
        outputs={"lengths": OutputDescription(schema={"type": "array",
                                                      "items": {"type": "integer"}}),
                 "heads": OutputDescription(schema={"type": "array",
                                                    "items": {"type": "string"}})},
    )

    def split_inputs(self, inputs: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"i": i, "size": inputs["size"]} for i in range(inputs["n"])]

    async def execute_single(self, item: dict[str, Any], progress: Progress) -> str:
        return f"{item['i']:03d}" + "y" * (item["size"] - 3)

    def merge_results(self, results: list[str], body: dict[str, Any]) -> dict[str, Any]:
        if body["inputs"].get("gate"):
            block_at(body["inputs"]["gate"], "merge")
        return {"lengths": [len(r) for r in results], "heads": [r[:3] for r in results]}


@process(id="gated-length", output="length")
async def gated_length(text: str, gate: str) -> int:
    """The length of `text`, once gate `length` is open: a workflow's root that holds
    while the test looks at what its child handed it."""
    await wait_at(gate, "length")
    return len(text)


@process(id="held-string", output="value")
async def held_string(gate: str) -> str:
    """`gate`, once gate `child` is open: a sibling that holds its parent back."""
    await wait_at(gate, "child")
    return gate
