"""A reference is held in memory only up to FASTPROC_FETCH_MEMORY_BYTES while it downloads;
past that it goes to a temporary file, and the process still gets what its schema says."""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass

import anyio
import orjson
import redis

from fastproc.net import pinned_client
from fastproc.settings import Settings
from fastproc.worker.fetch import Spool, fetch_into
from tests.localhttp import LocalHTTP
from tests.recording_http import LoopbackOnlyNetwork
from tests.support import Processes

MEMORY = 64 * 1024
BIG = bytes(range(256)) * 3000  # 768 000 bytes, twelve times the memory threshold


@dataclass
class Fetched:
    data: bytes
    on_disk: bool
    peak_in_memory: int


def _fetch(url: str, memory_bytes: int) -> Fetched:
    settings = Settings(allow_private_addresses=True, fetch_memory_bytes=memory_bytes)
    network = LoopbackOnlyNetwork()  # private addresses are allowed: keep it to loopback

    async def run() -> Fetched:
        async with pinned_client(settings, timeout=20, network=network) as client, \
                Spool(settings.fetch_memory_bytes) as spool:
            await fetch_into(spool, client, url, settings)
            return Fetched(await spool.read(), spool.on_disk, spool.peak_in_memory)

    return anyio.run(run)


def test_a_reference_past_the_memory_threshold_goes_to_disk_and_arrives_whole(
        local_http: LocalHTTP) -> None:
    fetched = _fetch(local_http.serve(f"big-{uuid.uuid4().hex}", BIG), MEMORY)
    assert fetched.data == BIG
    assert fetched.on_disk
    assert 0 < fetched.peak_in_memory <= MEMORY


def test_a_reference_within_the_memory_threshold_stays_in_memory(
        local_http: LocalHTTP) -> None:
    small = BIG[:MEMORY]
    fetched = _fetch(local_http.serve(f"small-{uuid.uuid4().hex}", small), MEMORY)
    assert fetched.data == small and not fetched.on_disk
    assert fetched.peak_in_memory == len(small)


def test_spooled_references_reach_the_process_as_their_schema_says(
        procs: Processes, r: redis.Redis, key_prefix: str, local_http: LocalHTTP) -> None:
    stack = procs.stack(r, key_prefix, FASTPROC_FETCH_MEMORY_BYTES=str(MEMORY))
    text = "é" * 200_000
    numbers = list(range(40_000))
    refs = {
        "binary": local_http.serve(f"bin-{uuid.uuid4().hex}", BIG),
        "text": local_http.serve(f"txt-{uuid.uuid4().hex}", text.encode(), "text/plain"),
        "json": local_http.serve(f"num-{uuid.uuid4().hex}", orjson.dumps(numbers),
                                 "application/json"),
    }
    with stack.client(timeout=60) as client:
        def run(process_id: str, inputs: dict[str, object], **body: object) -> object:
            response = client.post(f"/processes/{process_id}/execution",
                                   json={"inputs": inputs, "response": "document", **body})
            assert response.status_code == 200, response.text
            return response.json()

        assert run("byte_stats", {"data": {"href": refs["binary"]}}) == {
            "size": len(BIG), "checksum": zlib.crc32(BIG)}
        assert run("echo", {"value": {"href": refs["text"]}}, outputs={"value": {}}) == {
            "value": text}
        stats = run("number_stats", {"numbers": {"href": refs["json"]}})
        assert isinstance(stats, dict) and stats["mean"] == sum(numbers) / len(numbers)
