"""`GET /jobs/{id}/events`: a job's status and progress as Server-Sent Events (an extension
of OGC API - Processes). Fed by the API's one pub/sub subscriber, never by polling Redis.

The framing, the keep-alive comments of an idle stream, the headers that keep proxies from
buffering and the end of the stream when the client leaves are `sse-starlette`'s; this
module decides what is sent. (FastAPI's own SSE routes would do as well, but they put an
OpenAPI 3.2 `itemSchema` in the 3.0 document the oas30 class requires.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request

from fastproc.api.access import visible_record
from fastproc.api.responses import base_url
from fastproc.api.state import AppState, get_state
from fastproc.api.views import status_info
from fastproc.ogc.models import TERMINAL_STATES, StatusCode
from fastproc.store.record import JobRecord, PartsDone

router = APIRouter(tags=["Jobs"])
State = Annotated[AppState, Depends(get_state)]

#: Seconds between comment lines that keep idle proxies from closing the stream.
KEEPALIVE = 15.0

_DOC = {
    "x-fastproc-extension": "Server-Sent Events; not part of OGC API - Processes 1.0",
    "responses": {"200": {
        "description": "`event: status` messages whose data is the job's statusInfo; the "
                       "first is the current state, the stream ends with a terminal state.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }},
}


def _message(doc: dict[str, Any], seq: int) -> ServerSentEvent:
    return ServerSentEvent(orjson.dumps(doc).decode(), event="status", id=str(seq))


def _apply(record: JobRecord, event: dict[str, Any]) -> JobRecord | None:
    """The record as an event describes it, without reading Redis again; None for an event
    that cannot describe it (anybody who can write to Redis can publish one)."""
    try:
        status = StatusCode(str(event.get("status")))
        progress = event.get("progress")
        percent = None if progress is None else int(progress)
    except (ValueError, TypeError, OverflowError):
        return None
    if (percent is not None and not 0 <= percent <= 100) or not isinstance(
            event.get("message", ""), str | None) or not isinstance(
            event.get("updated", ""), str | None):
        return None
    record.status = status
    if percent is not None:
        record.progress = percent
    if event.get("message"):
        record.message = str(event["message"])
    if event.get("updated"):
        record.updated = str(event["updated"])
    parts = event.get("parts")
    if isinstance(parts, dict):
        record.parts = PartsDone.parse(parts.get("done"), parts.get("total"))
    nodes = event.get("nodes")
    if isinstance(nodes, dict):
        record.nodes = PartsDone.parse(nodes.get("done"), nodes.get("total"))
    return record


def _older(event: dict[str, Any], record: JobRecord) -> bool:
    """An event the stream's first read of the record already reflects (timestamps share
    one ISO format, so they compare as text)."""
    updated = event.get("updated")
    return bool(isinstance(updated, str) and record.updated and updated < record.updated)


@router.get("/jobs/{job_id}/events", summary="Live status of a job (Server-Sent Events)",
            openapi_extra=_DOC, response_class=EventSourceResponse)
async def job_events(job_id: str, request: Request, state: State) -> EventSourceResponse:
    base = base_url(request, state.settings.base_url)
    await visible_record(state, job_id, request)  # 404 before the stream starts
    return EventSourceResponse(_statuses(state, job_id, base), ping=KEEPALIVE)


async def _statuses(state: AppState, job_id: str, base: str
                    ) -> AsyncIterator[ServerSentEvent]:
    """The job's statusInfo now, then after every change, until it ends."""
    jobs = state.jobs
    async with state.events.stream(job_id) as queue:
        record = await jobs.get(job_id)  # read after subscribing: no gap
        seq = 0
        changed = True
        while record is not None:
            if changed:
                seq += 1
                yield _message(status_info(record, base), seq)
                if record.status.terminal:
                    return
            if state.events.released:  # the server is stopping: the client reconnects
                return
            event = await queue.get()
            # An event published before the record was read is already shown.
            if event is None or event.get("status") in TERMINAL_STATES:
                record = await jobs.get(job_id)  # resync, or the final record
                changed = True
            else:
                applied = None if _older(event, record) else _apply(record, event)
                changed = applied is not None
                if applied is not None:
                    record = applied
