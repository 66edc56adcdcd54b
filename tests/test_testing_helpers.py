"""fastproc.testing: a process run in the test behaves as the server runs it."""

from __future__ import annotations

import asyncio
import base64
import warnings
import zlib
from typing import Any

import anyio
import httpx
import pytest
import redis

from fastproc import (
    BaseParallelProcess,
    InputDescription,
    OutputDescription,
    ProcessDescription,
    ProcessError,
    Progress,
    process,
)
from fastproc.ogc.exceptions import InvalidParameterValue, InvalidRequest, OGCException
from fastproc.settings import Settings
from fastproc.testing import (
    ProcessLike,
    ProgressRecorder,
    ProgressReport,
    app_client,
    as_process,
    run_process,
)
from workers.examples import (
    BatchUpper,
    TextStats,
    add,
    byte_stats,
    fail,
    number_stats,
    sleep,
    solid_png,
)

pytestmark = pytest.mark.anyio

BAD_INPUTS: list[tuple[ProcessLike, dict[str, Any]]] = [
    (add, {"a": "one", "b": 2}),
    (add, {"a": 1}),
    (add, {"a": 1, "b": 2, "c": 3}),
    (solid_png, {"color": "red"}),
    (BatchUpper, {"words": ["a"], "chunk": 0}),
    (sleep, {"seconds": -1}),
    (byte_stats, {"data": {"value": 3, "encoding": "base64"}}),
]


@pytest.mark.parametrize(("proc", "inputs"), BAD_INPUTS,
                         ids=[f"{as_process(p).id}-{i}" for i, (p, _) in enumerate(BAD_INPUTS)])
async def test_bad_input_raises_the_exception_the_api_answers(
        proc: ProcessLike, inputs: dict[str, Any], api_url: str) -> None:
    with pytest.raises(OGCException) as raised:
        await run_process(proc, inputs)
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        answer = await client.post(f"/processes/{as_process(proc).id}/execution",
                                   json={"inputs": inputs}, headers={"Prefer": "respond-async"})
    assert answer.status_code == raised.value.status == 400
    assert answer.json()["type"] == raised.value.type_uri
    assert answer.json()["detail"] == raised.value.detail


async def test_inputs_that_are_not_json_are_refused_with_how_to_send_bytes() -> None:
    with pytest.raises(InvalidRequest, match="base64"):
        await run_process(byte_stats, {"data": b"raw bytes"})


async def test_binary_input_arrives_decoded_and_binary_output_stays_bytes() -> None:
    data = b"\x00\x01 fastproc"
    run = await run_process(byte_stats, {
        "data": {"value": base64.b64encode(data).decode(), "encoding": "base64"}})
    assert run == {"size": len(data), "checksum": zlib.crc32(data)}
    image = await run_process(solid_png, {"width": 2, "height": 2})
    assert image["image"].startswith(b"\x89PNG")
    assert image.document["image"]["mediaType"] == "image/png"
    assert base64.b64decode(image.document["image"]["value"]) == image["image"]


async def test_requested_outputs_only_come_back_and_unknown_ones_are_refused() -> None:
    run = await run_process(number_stats, {"numbers": [1, 2, 6]}, outputs=["mean", "count"])
    assert run == {"mean": 3.0, "count": 3}
    with pytest.raises(InvalidParameterValue, match="unknown output 'median'"):
        await run_process(number_stats, {"numbers": [1]}, outputs={"median": {}})


async def test_progress_of_an_async_body_is_captured_in_order() -> None:
    run = await run_process(sleep, {"seconds": 0.001})
    assert run["slept"] == 0.001
    assert [report.percent for report in run.progress] == list(range(0, 100, 10))
    assert run.progress[0] == ProgressReport(0, "slept 0.00 of 0.001 s")


@process(output="total")
def count_up(n: int, progress: Progress) -> int:
    """Count up: a sync body, run in a thread, reporting from there."""
    for i in range(n):
        progress(100 * (i + 1) / n, f"{i + 1} of {n}")
    return n


async def test_progress_of_a_sync_body_in_a_thread_is_captured() -> None:
    run = await run_process(count_up, {"n": 4})
    assert run == {"total": 4}
    assert run.progress == [(25, "1 of 4"), (50, "2 of 4"), (75, "3 of 4"), (100, "4 of 4")]


async def test_progress_is_recorded_as_the_job_record_would_show_it() -> None:
    progress = ProgressRecorder()
    progress(150, b"caf\xc3\xa9")
    progress("not a number", "x" * 5000)
    assert progress.reports[0] == (100, "café")
    assert progress.reports[1].percent == 100  # a non-number keeps the last value
    assert len(progress.reports[1].message or "") < 5000


async def test_an_error_of_the_body_reaches_the_test_unchanged() -> None:
    with pytest.raises(ProcessError, match="no luck"):
        await run_process(fail, {"message": "no luck"})


@process(output="never", timeout=0.05)
async def stuck() -> str:
    """Stuck: never ends by itself."""
    await asyncio.Event().wait()
    return "unreachable"


async def test_a_body_past_its_time_limit_raises_process_error() -> None:
    with pytest.raises(ProcessError, match=r"exceeded its time limit of 0\.05 s"):
        await run_process(stuck, {})


_WORDS = {"type": "array", "items": {"type": "string"}}


class ReverseFinish(BaseParallelProcess):
    """Parts finish last-first: part i waits for part i + 1. Run one after the other, they
    would wait forever; the merge must still see them in split order."""

    description = ProcessDescription(
        id="reverse_finish", inputs={"words": InputDescription(schema=_WORDS)},
        outputs={"words": OutputDescription(schema=_WORDS)})
    chunk_size = 2

    def __init__(self) -> None:
        self.finished: dict[int, asyncio.Event] = {}
        self.order: list[int] = []

    def split_inputs(self, inputs: dict[str, Any]) -> list[Any]:
        chunks = self.chunks(inputs["words"])
        self.finished = {i: asyncio.Event() for i in range(len(chunks) + 1)}
        self.finished[len(chunks)].set()
        return [(i, chunk) for i, chunk in enumerate(chunks)]

    async def execute_single(self, item: list[Any], progress: Progress) -> list[str]:
        index, words = item  # a tuple in, a list out: items travel as JSON
        await self.finished[index + 1].wait()
        self.order.append(index)
        self.finished[index].set()
        return [word.upper() for word in words]

    def merge_results(self, results: list[list[str]]) -> dict[str, Any]:
        return {"words": [word for chunk in results for word in chunk]}


async def test_fanout_runs_parts_at_once_and_equals_the_sequential_answer() -> None:
    words = [f"w{i}" for i in range(7)]
    proc = ReverseFinish()
    with anyio.fail_after(10):
        run = await run_process(proc, {"words": words})
    assert proc.order == [3, 2, 1, 0]
    assert run == {"words": [word.upper() for word in words]}
    assert [key for key, _ in run.parts] == ["0", "1", "2", "3"]
    assert [report.percent for report in run.progress] == [25, 50, 75, 100]
    assert run.progress[-1].message == "4 of 4 parts done"


@pytest.mark.parametrize(("proc", "inputs"), [
    (BatchUpper, {"words": ["alpha", "beta", "gamma", "delta", "epsilon"], "chunk": 2}),
    (BatchUpper, {"words": ["no", "chunk", "given"]}),
    (BatchUpper, {"words": []}),
    (TextStats, {"text": "The cat and the hat"}),
], ids=["parallel", "parallel-default-chunk", "parallel-empty", "scatter"])
async def test_fanout_outputs_equal_the_process_run_in_order(
        proc: ProcessLike, inputs: dict[str, Any]) -> None:
    in_order = await as_process(proc).run(inputs, lambda percent, message=None: None)
    assert await run_process(proc, inputs) == in_order


async def test_a_failing_part_raises_its_own_exception() -> None:
    class Picky(BatchUpper):
        description = BatchUpper.description.model_copy(update={"id": "picky"})

        async def execute_single(self, item: list[str], progress: Progress) -> list[str]:
            if "bad" in item:
                raise ProcessError("a bad word")
            return item

    with pytest.raises(ProcessError, match="a bad word"):
        await run_process(Picky, {"words": ["good", "bad", "fine"], "chunk": 1})


async def test_app_client_executes_processes_end_to_end() -> None:
    async with app_client([add, sleep, BatchUpper], settings=Settings(poll_delay=0.05)
                          ) as client:
        summed = await client.post("/processes/add/execution",
                                   json={"inputs": {"a": 1, "b": 2}, "response": "document"})
        assert summed.status_code == 200, summed.text
        assert summed.json() == {"sum": 3}
        upper = await client.post("/processes/batch_upper/execution", json={
            "inputs": {"words": ["a", "b", "c"], "chunk": 1}, "response": "document"})
        assert upper.json() == {"words": ["A", "B", "C"]}
        started = await client.post("/processes/sleep/execution",
                                    json={"inputs": {"seconds": 0.05}},
                                    headers={"Prefer": "respond-async"})
        assert started.status_code == 201, started.text
        job = started.json()["jobID"]
        events = await client.get(f"/jobs/{job}/events")  # the stream ends with the job
        assert '"status":"successful"' in events.text.replace(" ", "")
        results = await client.get(f"/jobs/{job}/results")
        assert results.json() == 0.05  # one output, asked for raw: its value alone
        refused = await client.post("/processes/add/execution", json={"inputs": {"a": 1}})
        assert refused.status_code == 400


async def test_app_client_shows_no_deprecation_warning_of_its_libraries() -> None:
    """A user's test run sees its own warnings only, not arq's use of redis-py's `close`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with app_client([add]) as client:
            summed = await client.post("/processes/add/execution",
                                       json={"inputs": {"a": 1, "b": 2}})
            assert summed.status_code == 200, summed.text
    deprecated = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert not [m for m in deprecated if "aclose" in m], deprecated


async def test_app_client_on_a_given_redis_deletes_its_keys_afterwards(
        redis_url: str, key_prefix: str, r: redis.Redis) -> None:
    prefix = f"{key_prefix}apc"
    async with app_client([add], settings=Settings(redis_url=redis_url, key_prefix=prefix)
                          ) as client:
        answer = await client.post("/processes/add/execution",
                                   json={"inputs": {"a": 2, "b": 2}, "response": "document"})
        assert answer.json() == {"sum": 4}
        assert list(r.scan_iter(match=f"{prefix}:*"))
    assert not list(r.scan_iter(match=f"{prefix}:*"))
