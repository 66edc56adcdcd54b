"""The jobs service as the routes reach it: every route that touches a job calls its intents
(`fastproc.jobs.service`), never Redis."""

from __future__ import annotations

from fastproc.api.state import AppState
from fastproc.jobs.service import JobService


def jobs_of(state: AppState) -> JobService:
    """The app's jobs service, built once in its lifespan."""
    return state.jobs
