"""Callbacks (the `callback` conformance class): POST the job's news to its subscriber.

Deliveries run in background tasks owned by the worker: a slow or dead subscriber never
delays a job, and each delivery is retried with backoff before it is given up (logged).
They go through `fastproc.net`'s client, which connects only to addresses it checked.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import orjson
from loguru import logger
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from fastproc.net import (
    AddressNotAllowed,
    Resolver,
    check_url_syntax,
    pinned_client,
    system_resolver,
)
from fastproc.settings import Settings
from fastproc.store.result_document import (
    EncodedResult,
    object_key,
    output_link,
    qualified_binary,
    results_document,
)


class _Undelivered(Exception):
    """A delivery that failed in a way worth retrying (the subscriber's answer or the
    network), as opposed to a refused address."""


#: Which subscriber URI each outcome goes to.
IN_PROGRESS = "inProgressUri"
SUCCESS = "successUri"
FAILED = "failedUri"


def success_document(result: EncodedResult, job_id: str, base: str) -> dict[str, Any]:
    """What a success callback carries: every output as the results document holds it by
    value, but for outputs in the output store, which go as links to the API's output
    route (`base` is the public URL the job was submitted at): a subscriber is sent
    neither a gigabyte in one POST nor the key of an object, and fetches the output as
    the job's owner would."""
    document = results_document(result.document)
    for name, stored in document.items():
        if isinstance(stored, dict) and object_key(stored) is not None:
            document[name] = output_link(base, job_id, name, str(stored.get("mediaType")))
    for name, data in result.apart.items():
        document[name] = qualified_binary(data, document[name]["mediaType"])
    return document


class Notifier:
    def __init__(self, settings: Settings, resolver: Resolver = system_resolver) -> None:
        self.settings = settings
        self._resolver = resolver
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, subscriber: dict[str, Any] | None, which: str, payload: Any) -> None:
        """Start delivering `payload` to `subscriber[which]`, if the job asked for it."""
        url = (subscriber or {}).get(which)
        if not url:
            return
        task = asyncio.create_task(self._deliver(str(url), orjson.dumps(payload)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, body: bytes) -> None:
        if self._client is None:
            self._client = pinned_client(self.settings, timeout=10, resolver=self._resolver)
        tries = self.settings.callback_retries + 1
        retrying = AsyncRetrying(retry=retry_if_exception_type(_Undelivered),
                                 stop=stop_after_attempt(tries),
                                 wait=wait_exponential(multiplier=0.5), reraise=True)
        try:
            await retrying(self._post, self._client, url, body)
        except AddressNotAllowed as exc:
            logger.warning("callback to {} refused: {}", url, exc)
        except _Undelivered as exc:
            logger.warning("callback to {} given up after {} tries: {}", url, tries, exc)

    async def _post(self, client: httpx.AsyncClient, url: str, body: bytes) -> None:
        """One delivery; `_Undelivered` when it may succeed if tried again."""
        check_url_syntax(url, self.settings)
        try:
            response = await client.post(
                url, content=body, headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            raise _Undelivered(f"{type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise _Undelivered(f"HTTP {response.status_code}")

    async def drain(self, grace: float) -> None:
        """Give deliveries in flight `grace` seconds, then cancel the rest (shutdown)."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
        if self._client is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self._client.aclose()
