"""Job events: one pub/sub subscriber per API process, dispatching to waiting requests.

A synchronous execution registers interest in its job *before* the job is enqueued, then
sleeps until the hub sees a terminal event for it, so the request path never polls Redis.
If the subscription drops, every waiter is woken to re-read the record: events published
while the connection was down are not lost to them.

The hub listens only while some request waits for a job or streams its events, and
`LINGER` seconds after the last one: every API process hears every event of every job, so
an API serving async jobs (or one of many replicas) would otherwise read — and make Redis
write to it — two events per job that nobody waits for. The first request after a quiet
spell subscribes before it registers (one round trip), so it misses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
from loguru import logger
from redis.asyncio import Redis

from fastproc.ogc.models import TERMINAL_STATES
from fastproc.store.pubsub import listen_forever

#: Events a slow stream reader may fall behind by before older progress events are dropped.
_STREAM_BACKLOG = 256
#: The largest result a terminal event carries to the request waiting for it, bytes: every
#: API process hears every event, so larger results are read back by the waiting one.
EVENT_RESULT_BYTES = 8192
#: Seconds the hub keeps listening after the last waiting request left: a steady flow of
#: sync requests shares one subscription.
LINGER = 1.0
#: Seconds a request waits for the subscription before it goes on (Redis is away; the
#: request re-reads the record once the hub is back).
READY_WAIT = 5.0


class JobEnd(asyncio.Event):
    """Set when a watched job may have ended; `payload` is the terminal event that set it
    (None when the hub was resubscribing: re-read the record). A job submitted by a
    request that waits for it carries its result in that event when the result is small
    (`result`, the stored document as text), so the request need not read it back."""

    def __init__(self) -> None:
        super().__init__()
        self.payload: dict[str, Any] | None = None


def _offer(queue: asyncio.Queue[dict[str, Any] | None], item: dict[str, Any] | None) -> None:
    """Queue without blocking the dispatcher: a reader that lags loses the oldest event
    (progress is cumulative, the last state is what matters)."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


def _ended(task: asyncio.Task[None]) -> None:
    """A listener ends by cancellation only (it resubscribes after any Redis error); say
    so if anything else ended it (the next request starts another)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        logger.opt(exception=exc).error("the event hub's listener ended")


class EventHub:
    def __init__(self, redis: Redis, channel: str, *, linger: float = LINGER) -> None:
        self.redis = redis
        self.channel = channel
        self._linger = linger
        self._waiters: dict[str, set[JobEnd]] = {}
        self._streams: dict[str, set[asyncio.Queue[dict[str, Any] | None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._quiet: asyncio.TimerHandle | None = None
        #: Set by `release`: the server is stopping, nobody should wait for a job any more.
        self.released = False

    async def stop(self) -> None:
        self._cancel_quiet()
        await self._unsubscribe()

    @contextlib.asynccontextmanager
    async def watch(self, job_id: str) -> AsyncIterator[JobEnd]:
        """An event set when the job may have ended, with the terminal event that set it
        (see `JobEnd`); without one, the caller re-reads the record. Listening when it
        yields: a job enqueued from then on is heard."""
        await self._listen()
        event = JobEnd()
        self._waiters.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(job_id)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[job_id]
            self._left()

    @contextlib.asynccontextmanager
    async def stream(self, job_id: str) -> AsyncIterator[asyncio.Queue[dict[str, Any] | None]]:
        """Every event of one job as it comes; `None` means "events may have been missed,
        re-read the record" (after the subscription was lost). Listening when it yields."""
        await self._listen()
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=_STREAM_BACKLOG)
        self._streams.setdefault(job_id, set()).add(queue)
        try:
            yield queue
        finally:
            streams = self._streams.get(job_id)
            if streams is not None:
                streams.discard(queue)
                if not streams:
                    del self._streams[job_id]
            self._left()

    async def _listen(self) -> None:
        """Subscribed before a request registers (so it misses no event of its job), or
        READY_WAIT seconds passed (Redis away: the hub wakes every request once back)."""
        self._cancel_quiet()
        if self._task is None or self._task.done():  # never, or ended by a bug: anew
            self._ready.clear()
            self._task = asyncio.create_task(self._run(), name="fastproc-event-hub")
            self._task.add_done_callback(_ended)
        if not self._ready.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=READY_WAIT)

    def _left(self) -> None:
        """A request stopped waiting: the last one starts the linger."""
        if self._waiters or self._streams or self._task is None or self._quiet is not None:
            return
        self._quiet = asyncio.get_running_loop().call_later(self._linger, self._end_linger)

    def _end_linger(self) -> None:
        self._quiet = None
        if not self._waiters and not self._streams and self._task is not None:
            task, self._task = self._task, None
            self._ready.clear()
            task.cancel()  # its connection is closed as the cancellation unwinds it

    def _cancel_quiet(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None

    async def _unsubscribe(self) -> None:
        task, self._task = self._task, None
        self._ready.clear()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _dispatch(self, payload: dict[str, Any]) -> None:
        job_id = str(payload.get("jobID"))
        for queue in self._streams.get(job_id, ()):
            _offer(queue, payload)
        if payload.get("status") not in TERMINAL_STATES:
            return
        for event in self._waiters.get(job_id, ()):
            event.payload = payload
            event.set()

    def release(self) -> None:
        """The server is stopping: wake every request waiting for a job, so that it answers
        now (a sync request with the job's Location, a stream by ending) instead of holding
        the shutdown for the whole grace, waiting for a worker that may be stopping too."""
        self.released = True
        self._wake_all()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.payload = None
                event.set()
        for streams in self._streams.values():
            for queue in streams:
                _offer(queue, None)

    async def _run(self) -> None:
        await listen_forever(self.redis, self.channel, self._on_message, self._on_connected,
                             "event")

    def _on_message(self, data: bytes) -> None:
        payload = orjson.loads(data)
        # Anybody who can write to Redis can publish here: only an object naming a job and
        # a status in text reaches a waiting request or a stream.
        if (isinstance(payload, dict) and isinstance(payload.get("jobID"), str)
                and isinstance(payload.get("status"), str)):
            self._dispatch(payload)

    def _on_connected(self) -> None:
        self._ready.set()
        self._wake_all()  # anything may have ended while we were away
