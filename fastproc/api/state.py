"""What the routers share, built once in the app's lifespan and passed by dependency."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from starlette.requests import Request

from fastproc.api.auth import KeyRing
from fastproc.jobs.service import JobService
from fastproc.ogc.limits import Limits
from fastproc.settings import Settings
from fastproc.store.cache_entries import ResultCache
from fastproc.store.catalogue import Catalogue
from fastproc.store.event_hub import EventHub
from fastproc.store.job_store import JobStore
from fastproc.wire.keys import Keys


@dataclass(slots=True)
class AppState:
    settings: Settings
    redis: Redis
    keys: Keys
    store: JobStore
    cache: ResultCache
    catalogue: Catalogue
    events: EventHub
    limits: Limits
    auth: KeyRing
    #: The job lifecycle's intents, over `store` and `cache` (routes call these).
    jobs: JobService


async def get_state(request: Request) -> AppState:
    """A dependency; `async` so FastAPI does not send it to a thread pool per request."""
    state: AppState = request.app.state.fastproc
    return state
