"""What the routers share, built once in the app's lifespan and passed by dependency."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from starlette.requests import Request

from fastproc.api.auth import KeyRing
from fastproc.execution import Executor
from fastproc.jobs.service import JobService
from fastproc.ogc.limits import Limits
from fastproc.settings import Settings
from fastproc.store.catalogue import Catalogue
from fastproc.store.event_hub import EventHub
from fastproc.store.operations import Operations
from fastproc.wire.keys import Keys


@dataclass(slots=True)
class AppState:
    settings: Settings
    #: For the dashboard and job logs (`fastproc.api.insights`); routes call intents.
    redis: Redis
    keys: Keys
    catalogue: Catalogue
    events: EventHub
    limits: Limits
    auth: KeyRing
    #: The job lifecycle's intents, the only writer of job state (routes call these).
    jobs: JobService
    #: The execute use case (the execution route and the HTML form call it).
    execution: Executor
    #: What `/health` and `/metrics` read.
    operations: Operations


async def get_state(request: Request) -> AppState:
    """A dependency; `async` so FastAPI does not send it to a thread pool per request."""
    state: AppState = request.app.state.fastproc
    return state
