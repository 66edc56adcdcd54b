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

from fastproc.net import (
    AddressNotAllowed,
    Resolver,
    check_url_syntax,
    pinned_client,
    system_resolver,
)
from fastproc.settings import Settings

#: Which subscriber URI each outcome goes to.
IN_PROGRESS = "inProgressUri"
SUCCESS = "successUri"
FAILED = "failedUri"


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
        delay = 0.5
        for attempt in range(self.settings.callback_retries + 1):
            try:
                check_url_syntax(url, self.settings)
                response = await self._client.post(
                    url, content=body, headers={"Content-Type": "application/json"})
                if response.is_success:
                    return
                problem = f"HTTP {response.status_code}"
            except AddressNotAllowed as exc:
                logger.warning("callback to {} refused: {}", url, exc)
                return
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < self.settings.callback_retries:
                await asyncio.sleep(delay)
                delay *= 2
        logger.warning("callback to {} given up after {} tries: {}", url,
                       self.settings.callback_retries + 1, problem)

    async def drain(self, grace: float) -> None:
        """Give deliveries in flight `grace` seconds, then cancel the rest (shutdown)."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
        if self._client is not None:
            with contextlib.suppress(httpx.HTTPError):
                await self._client.aclose()
