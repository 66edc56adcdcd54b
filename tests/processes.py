"""Processes that only the tests load (next to workers.examples)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

from fastproc import (
    BaseParallelProcess,
    BaseProcess,
    BaseScatterProcess,
    InputDescription,
    MediaType,
    OutputDescription,
    ProcessDescription,
    Progress,
    load_description,
    parallel_step,
    process,
)


class Multiply(BaseProcess):
    """The class style, with its description loaded from a YAML file."""

    description = load_description(Path(__file__).with_name("multiply.yaml"))
    deterministic = True

    async def execute(self, inputs: dict[str, Any], progress: Progress) -> dict[str, Any]:
        progress(50, "multiplying")
        return {"product": inputs["x"] * inputs["y"]}


@process(output="slept", timeout=0.5)
async def slow_cleanup(seconds: float) -> float:
    """Sleeps past its 0.5 s time limit, so the soft limit cancels it."""
    await asyncio.sleep(seconds)
    return seconds


@process(output="done")
def blocking_sleep(seconds: float) -> bool:
    """A sync body: it runs in a worker thread and must not block other jobs."""
    import time

    time.sleep(seconds)
    return True


class SlowParts(BaseParallelProcess):
    """n parts that each sleep `delay` seconds and say which worker process ran them;
    part `fail_on` raises. For the join, crash, dismiss and progress tests."""

    description = ProcessDescription(
        id="slow_parts",
        inputs={
            "n": InputDescription(schema={"type": "integer", "minimum": 0}),
            "delay": InputDescription(schema={"type": "number", "minimum": 0}, minOccurs=0),
            "fail_on": InputDescription(schema={"type": "integer"}, minOccurs=0),
            "tag": InputDescription(schema={"type": "string"}, minOccurs=0),
        },
        outputs={
            "order": OutputDescription(schema={"type": "array", "items": {"type": "integer"}}),
            "pids": OutputDescription(schema={"type": "array", "items": {"type": "integer"}}),
        },
    )

    def split_inputs(self, inputs: dict[str, Any]) -> list[Any]:
        return [{"i": i, "delay": inputs.get("delay", 0), "fail": i == inputs.get("fail_on")}
                for i in range(inputs["n"])]

    async def execute_single(self, item: dict[str, Any], progress: Progress) -> dict[str, int]:
        await asyncio.sleep(item["delay"])
        if item["fail"]:
            raise ValueError(f"part {item['i']} was told to fail")
        return {"i": item["i"], "pid": os.getpid()}

    def merge_results(self, results: list[dict[str, int]]) -> dict[str, Any]:
        return {"order": [r["i"] for r in results],
                "pids": sorted({r["pid"] for r in results})}


class CountedParts(BaseParallelProcess):
    """n parts that each append `start <i>` to the file at `path`, sleep `seconds` and
    append `done <i>`: a test counts how many times each part ran (a part re-run after a
    Redis outage would start twice). The merge gives the number of parts."""

    description = ProcessDescription(
        id="counted_parts",
        inputs={
            "path": InputDescription(schema={"type": "string"}),
            "n": InputDescription(schema={"type": "integer", "minimum": 1, "maximum": 20}),
            "seconds": InputDescription(schema={"type": "number", "minimum": 0,
                                                "maximum": 10}),
        },
        outputs={"parts": OutputDescription(schema={"type": "integer"})},
    )

    def split_inputs(self, inputs: dict[str, Any]) -> list[Any]:
        return [{"i": i, "path": inputs["path"], "seconds": inputs["seconds"]}
                for i in range(inputs["n"])]

    async def execute_single(self, item: dict[str, Any], progress: Progress) -> int:
        file = Path(item["path"])
        await asyncio.to_thread(_append, file, f"start {item['i']}\n")
        await asyncio.sleep(item["seconds"])
        await asyncio.to_thread(_append, file, f"done {item['i']}\n")
        return int(item["i"])

    def merge_results(self, results: list[int]) -> dict[str, Any]:
        return {"parts": len(results)}


class BrokenSplit(BaseParallelProcess):
    description = ProcessDescription(id="broken_split", outputs={
        "x": OutputDescription(schema={"type": "integer"})})

    def split_inputs(self, inputs: dict[str, Any]) -> list[Any]:
        raise RuntimeError("cannot split this")


class BrokenMerge(BaseScatterProcess):
    description = ProcessDescription(id="broken_merge", outputs={
        "x": OutputDescription(schema={"type": "integer"})})

    @parallel_step
    async def one(self, inputs: dict[str, Any]) -> int:
        return 1

    def merge_results(self, results: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("cannot merge this")


@process(deterministic=True, output="never")
async def deterministic_fail(value: str) -> str:
    """Deterministic but failing: its failures must never be cached."""
    raise ValueError(f"refusing {value}")


@process(deterministic=True, output="value", version=os.environ.get("TEST_ECHO_VERSION", "1.0.0"))
async def versioned_echo(value: str) -> str:
    """An echo whose version the test sets, to show a new version misses the cache."""
    return f"{value}@{os.environ.get('TEST_ECHO_VERSION', '1.0.0')}"


@process(output="data")
async def big_blob(megabytes: float) -> Annotated[bytes, MediaType("application/octet-stream")]:
    """A binary result of the given size, for the large-result checks."""
    return bytes(int(megabytes * 1024 * 1024))


@process(output="keys")
async def object_keys(document: dict[str, Any]) -> list[str]:
    """The sorted keys of an object input."""
    return sorted(document)


@process(output="starts")
async def counted_run(path: str, seconds: float) -> int:
    """Appends `start` to the file at `path`, sleeps, appends `done`: a test counts how
    many times the body ran (a re-run after a Redis outage would start it twice)."""
    file = Path(path)
    await asyncio.to_thread(_append, file, "start\n")
    await asyncio.sleep(seconds)
    await asyncio.to_thread(_append, file, "done\n")
    return (await asyncio.to_thread(file.read_text)).count("start")


def _append(file: Path, line: str) -> None:
    with file.open("a") as out:
        out.write(line)


@process(output="value")
async def rude_progress(value: str, progress: Progress) -> str:
    """Reports progress messages no reader can take as they are: bytes that are not
    UTF-8, a lone surrogate, a huge text, an object and numbers that are not numbers."""
    progress(10, b"\xff\xfe not utf-8")  # type: ignore[arg-type]
    progress(20, "lone \udcff surrogate")
    progress(float("nan"), "x" * 100_000)
    progress(float("inf"), {"an": "object"})  # type: ignore[arg-type]
    return value
