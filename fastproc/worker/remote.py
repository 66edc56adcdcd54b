"""A nested process of another OGC API - Processes server (Part 3, remote-core-processes),
executed there by the worker.

The call obeys the rules of inputs given by reference (`fastproc.net`, `fastproc.worker.fetch`):
every URL is checked (scheme, and with the pinned client every address it connects to, so
no request of a workflow reaches a private address unless `FASTPROC_ALLOW_PRIVATE_ADDRESSES`
is set), no redirect is followed, each answer is read up to `FASTPROC_FETCH_MAX_BYTES`, and
the whole call is bounded by the job's time limit. The server is asked for the one output
the parent needs, as a results document, synchronously; a server that answers with a job
instead (an async-only process, or a sync request it turned into a job) is followed to
its end.

The call waits in a worker slot, and the other server may be this same deployment under
another name, whose job then needs a slot of these same workers: with every slot holding
such a wait, none is left and each wait ends only at its time limit (300 remote nodes on
50 slots: a 1 s process took 23 s). So a worker lets its remote nodes hold only some of its
slots, never all (`RemoteSlots`); a remote node beyond them is handed back to the queue
for a moment rather than waiting in a slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import orjson
from arq import Retry

from fastproc.net import AddressNotAllowed, check_url_syntax, pinned_client
from fastproc.ogc import media
from fastproc.ogc.exceptions import ProcessError
from fastproc.settings import Settings
from fastproc.workflows.tree import Node

#: Seconds between two looks at the status of a job the remote server created.
POLL_INTERVAL = 0.2
_TERMINAL = frozenset({"successful", "failed", "dismissed"})


class RemoteFailed(ProcessError):
    """The remote server could not be reached, refused the request, or its job failed."""


#: Seconds a remote node that found no free slot waits in the queue, doubling from the
#: first to the last with each try: it tries again within a second (each try a short task
#: that holds no slot while it waits), and fails once arq's tries run out (a quarter hour).
SLOT_RETRY_FIRST, SLOT_RETRY_LAST = 0.1, 1.0


@dataclass(slots=True)
class RemoteSlots:
    """The slots of one worker that its remote nodes hold while they wait (see the module
    doc); one per worker."""

    limit: int
    held: int = 0

    @classmethod
    def of(cls, settings: Settings) -> RemoteSlots:
        """`FASTPROC_WORKFLOW_REMOTE_SLOTS`, half the worker's slots when unset, and never
        all of them (but one, for a worker that has only one)."""
        slots = settings.worker_concurrency
        wanted = settings.workflow_remote_slots or max(1, slots // 2)
        return cls(min(wanted, max(1, slots - 1)))

    @contextmanager
    def holding(self, job_try: int) -> Iterator[None]:
        """One slot for the duration; with none free, arq's `Retry`: the node's task goes
        back to the queue and gives its own slot to the jobs being waited for."""
        if self.held >= self.limit:
            raise Retry(defer=min(SLOT_RETRY_LAST, SLOT_RETRY_FIRST * 2 ** min(job_try, 8)))
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1


async def run_remote(node: Node, inputs: dict[str, Any], settings: Settings,
                     time_limit: float) -> Any:
    """The value of the node's selected output (its first one when none is selected), as
    the remote server's results document gives it."""
    assert node.remote is not None
    base = node.remote.rstrip("/")
    process = f"{base}/processes/{quote(node.process_id, safe='')}"
    try:
        async with asyncio.timeout(time_limit), pinned_client(
                settings, timeout=settings.fetch_timeout) as client:
            output = node.output or await _first_output(client, process, settings)
            body = {"inputs": inputs, "outputs": {output: {}}, "response": "document"}
            status, headers, content = await _call(
                client, "POST", f"{process}/execution", settings, json=body,
                timeout=time_limit, headers={"Accept": media.JSON})
            if status == 201:
                content = await _follow_job(client, headers, process, settings)
            elif status != 200:
                raise _refused("POST", f"{process}/execution", status, content)
    except TimeoutError as exc:
        raise RemoteFailed(f"{process} did not answer within {time_limit:g} s") from exc
    except httpx.HTTPError as exc:
        raise RemoteFailed(f"cannot call {process}: {type(exc).__name__}: {exc}") from exc
    except AddressNotAllowed as exc:
        raise RemoteFailed(f"{process} is refused: {exc}") from exc
    return _selected(_json(content, process), output, process)


async def _first_output(client: httpx.AsyncClient, process: str, settings: Settings) -> str:
    """The output a nested process gives when none is selected: its first one."""
    status, _, content = await _call(client, "GET", process, settings,
                                     headers={"Accept": media.JSON})
    if status != 200:
        raise _refused("GET", process, status, content)
    outputs = _json(content, process).get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        raise RemoteFailed(f"{process} describes no output")
    return str(next(iter(outputs)))


async def _follow_job(client: httpx.AsyncClient, headers: httpx.Headers, process: str,
                      settings: Settings) -> bytes:
    """The results document of a job the remote server created, once it has ended."""
    location = headers.get("location")
    if not location:
        raise RemoteFailed(f"{process} created a job without a Location")
    job = urljoin(f"{process}/execution", location)
    while True:
        status, _, content = await _call(client, "GET", job, settings,
                                         headers={"Accept": media.JSON})
        if status != 200:
            raise _refused("GET", job, status, content)
        state = _json(content, job).get("status")
        if state in _TERMINAL:
            break
        await asyncio.sleep(POLL_INTERVAL)
    status, _, content = await _call(client, "GET", f"{job}/results", settings,
                                     headers={"Accept": media.JSON})
    if state != "successful" or status != 200:
        raise _refused("GET", f"{job}/results", status, content,
                       lead=f"the job {job} ended {state}")
    return content


async def _call(client: httpx.AsyncClient, method: str, url: str, settings: Settings,
                **options: Any) -> tuple[int, httpx.Headers, bytes]:
    """One request to an address the rules allow, its answer read up to the size cap."""
    check_url_syntax(url, settings)
    async with client.stream(method, url, **options) as response:
        declared = int(response.headers.get("content-length") or 0)
        if declared > settings.fetch_max_bytes:
            raise RemoteFailed(f"{url} answered {declared} bytes, over "
                               f"{settings.fetch_max_bytes} bytes (FASTPROC_FETCH_MAX_BYTES)")
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > settings.fetch_max_bytes:
                raise RemoteFailed(f"{url} answered over {settings.fetch_max_bytes} bytes "
                                   "(FASTPROC_FETCH_MAX_BYTES)")
        return response.status_code, response.headers, bytes(body)


def _json(content: bytes, url: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise RemoteFailed(f"the answer of {url} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise RemoteFailed(f"the answer of {url} is not a JSON object")
    return doc


def _selected(results: dict[str, Any], output: str, process: str) -> Any:
    if output not in results:
        given = ", ".join(results) or "none"
        raise RemoteFailed(f"{process} gave no output '{output}' (outputs: {given})")
    return results[output]


def _refused(method: str, url: str, status: int, content: bytes, *,
             lead: str | None = None) -> RemoteFailed:
    """An error answer as one line, with the remote server's own detail if it gave one."""
    try:
        problem = orjson.loads(content)
        detail = problem.get("detail") or problem.get("title") if isinstance(
            problem, dict) else None
    except orjson.JSONDecodeError:
        detail = None
    text = str(detail or " ".join(content[:200].decode("utf-8", "replace").split()))
    return RemoteFailed(f"{lead or f'{method} {url} answered {status}'}: {text}")
