"""What the API shows about the service at work: the operations dashboard (`/dashboard`),
job logs (`/jobs/{id}/logs`) and the job page's timeline and traceback.

`Insights` is built once per app in the lifespan of the dashboard's router and reached
from requests with `insights_of`; it holds the job log reader, the dashboard's shared feed
and the operator keys.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.requests import Request

from fastproc.api.auth import KeyRing, presented_key
from fastproc.api.insights.feed import DashboardFeed
from fastproc.api.insights.figures import CacheRate, Figures
from fastproc.api.state import AppState
from fastproc.jobs.activity import Activity
from fastproc.jobs.logs import JobLogs
from fastproc.ogc.exceptions import Unauthorized


class OperatorKeys:
    """`FASTPROC_OPERATOR_KEYS`: who sees the whole dashboard. Compared in constant time."""

    def __init__(self, entries: list[str]) -> None:
        self._keys = [entry.partition(":")[2] or entry for entry in entries]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def match(self, presented: str | None) -> bool:
        if not presented:
            return False
        given = presented.encode()
        found = False
        for key in self._keys:
            found |= hmac.compare_digest(key.encode(), given)
        return found


@dataclass(slots=True)
class Insights:
    logs: JobLogs
    feed: DashboardFeed
    operators: OperatorKeys

    def full_view(self, request: Request, ring: KeyRing) -> bool:
        """Whether this caller sees the whole dashboard: anybody while no key is set, else
        an operator key only. A key that is nobody's is refused (401), as elsewhere."""
        if not ring.enabled and not self.operators.enabled:
            return True
        presented = presented_key(request)
        if self.operators.match(presented):
            return True
        if presented and ring.identify(presented) is None:
            raise Unauthorized("this key is not valid here",
                               headers={"WWW-Authenticate": 'Bearer realm="fastproc"'})
        return False


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
