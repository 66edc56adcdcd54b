"""What the API shows about the service at work: the operations dashboard (`/dashboard`),
job logs (`/jobs/{id}/logs`) and the job page's timeline and traceback.

`Insights` is built once per app in the lifespan of the dashboard's router and reached
from requests with `insights_of`; it holds the job log reader, the dashboard's shared feed,
its open streams and the operator keys.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.requests import Request

from fastproc.api.auth import KeyRing, presented_key
from fastproc.api.insights.feed import DashboardFeed, StreamSlots
from fastproc.api.insights.figures import CacheRate, Figures, View
from fastproc.api.state import AppState
from fastproc.ogc.exceptions import Unauthorized
from fastproc.store.activity import Activity
from fastproc.store.logbook import JobLogs


class OperatorKeys:
    """`FASTPROC_OPERATOR_KEYS`: who sees the whole dashboard. Compared in constant time."""

    def __init__(self, entries: list[str]) -> None:
        self._keys: list[tuple[bytes, str]] = []
        for entry in entries:
            name, sep, key = entry.partition(":")
            if not sep:
                name, key = f"operator{len(self._keys)}", entry
            self._keys.append((key.encode(), name))

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, presented: str | None) -> str | None:
        """The name of the operator whose key this is; every key is compared."""
        if not presented:
            return None
        given = presented.encode()
        found: str | None = None
        for key, name in self._keys:
            if hmac.compare_digest(key, given):
                found = name
        return found


@dataclass(frozen=True, slots=True)
class Viewer:
    """A caller of the dashboard: what it sees, and who it is to the stream caps."""

    view: View
    #: `operator:<name>`, `key:<name>`, or `address:<client address>` without a key.
    caller: str


@dataclass(slots=True)
class Insights:
    logs: JobLogs
    feed: DashboardFeed
    streams: StreamSlots
    operators: OperatorKeys

    def viewer(self, request: Request, ring: KeyRing) -> Viewer:
        """Who calls and what they see: everything while no key is set at all, else only
        with an operator key; figures per process with an API key, or without a key while
        only operator keys are set (there are no tenants then); without a key while API
        keys are on, the totals only. A key that is nobody's is refused (401), as
        elsewhere."""
        presented = presented_key(request)
        operator = self.operators.identify(presented)
        if operator is not None:
            return Viewer(View.OPERATOR, f"operator:{operator}")
        address = request.client.host if request.client else "unknown"
        if not ring.enabled and not self.operators.enabled:
            return Viewer(View.OPERATOR, f"address:{address}")
        if presented:
            caller = ring.identify(presented)
            if caller is None:
                raise Unauthorized("this key is not valid here",
                                   headers={"WWW-Authenticate": 'Bearer realm="fastproc"'})
            return Viewer(View.AGGREGATE, f"key:{caller.name}")
        return Viewer(View.TOTALS if ring.enabled else View.AGGREGATE, f"address:{address}")


def build(state: AppState) -> Insights:
    settings = state.settings
    activity = Activity(state.redis, state.keys)

    async def read(rate: Callable[[int, int, int], CacheRate]) -> Figures:
        catalogue = await state.catalogue.all()
        queues = {p.entry.queue for p in catalogue} | {settings.queue_name}
        reading = await activity.read(queues)
        hits = sum(int(v) for k, v in reading.stats.items() if k.startswith("cachehit|"))
        fresh = sum(int(v) for k, v in reading.stats.items() if k.startswith("submitted|"))
        return Figures.of(reading, [p.description.id for p in catalogue],
                          rate(reading.at_ms, hits, fresh))

    return Insights(
        logs=JobLogs(state.redis, state.keys, max_lines=settings.job_log_lines,
                     max_bytes=settings.job_log_bytes),
        feed=DashboardFeed(read, settings.dashboard_interval),
        streams=StreamSlots(settings.dashboard_streams, settings.dashboard_streams_per_caller),
        operators=OperatorKeys(settings.operator_keys),
    )



@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Nested in the app's lifespan (its state is there): build, and stop the feed at the end."""
    insights = build(app.state.fastproc)
    app.state.insights = insights
    try:
        yield
    finally:
        await insights.feed.stop()


def insights_of(request: Request) -> Insights:
    found: Insights = request.app.state.insights
    return found
