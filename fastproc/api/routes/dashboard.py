"""`/dashboard`: the operations dashboard, live (an extension of OGC API - Processes).

The page and its JSON (`/dashboard?f=json`) show the same figures (`fastproc.api.insights`):
jobs queued and running now, ended in the last minutes, the cache hit rate, throughput and
queue depth over the last 15 minutes, each live worker, each process, the last failures.
`/dashboard/events` streams the page's body as Server-Sent Events, from the one reading per
API process that all open dashboards share (`fastproc.api.insights.feed`): a viewer adds no
Redis command, but holds a connection: streams are capped per caller and in all (429).
With access control on, only an operator key (`FASTPROC_OPERATOR_KEYS`) sees job ids, error
messages and workers; an API key sees the figures per process; a caller without a key the
totals only (`fastproc.api.insights.figures.View`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from markupsafe import Markup
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from fastproc.api.html import page
from fastproc.api.html.render import environment
from fastproc.api.insights import insights_of, lifespan
from fastproc.api.insights.charts import depth_chart, seconds_text, throughput_chart
from fastproc.api.insights.feed import KEEPALIVE, DashboardFeed
from fastproc.api.insights.figures import RECENT_SECONDS, Figures, View, iso
from fastproc.api.negotiation import HTML_TOO, Format, Negotiated
from fastproc.api.responses import JSONResponse, base_url
from fastproc.api.state import AppState, get_state
from fastproc.store.activity import WINDOW_SECONDS

router = APIRouter(tags=["Operations"], lifespan=lifespan)
State = Annotated[AppState, Depends(get_state)]
_EXTENSION = "fastproc's operations dashboard; not part of OGC API - Processes 1.0"


def _body(figures: Figures, *, view: View, base: str) -> str:
    """The dashboard's body (what the stream replaces), charts drawn here."""
    minutes = WINDOW_SECONDS // 60
    return environment().get_template("dashboard_body.html").render(
        base=base, f=figures, full=view is View.OPERATOR, totals=view is View.TOTALS,
        as_of=iso(figures.at_ms),
        recent_minutes=RECENT_SECONDS // 60,
        minutes=minutes, seconds_text=seconds_text,
        throughput=throughput_chart(figures.throughput, minutes),
        depth=depth_chart(figures.depth, minutes))


@router.get("/dashboard", summary="Operations dashboard (live)",
            openapi_extra={"x-fastproc-extension": _EXTENSION},
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}},
                                         **HTML_TOO}}})
async def dashboard(request: Request, state: State, fmt: Negotiated) -> Response:
    """Queues, throughput, workers, processes and failures now; as a page that follows
    them live, or as JSON for other tools."""
    insights = insights_of(request)
    view = insights.viewer(request, state.auth).view
    figures = await insights.feed.current()
    base = base_url(request, state.settings.base_url)
    if fmt is Format.JSON:
        return JSONResponse(figures.document(view=view, base=base))
    body = insights.feed.rendered(figures, _body, view=view, base=base)
    return page(request, "dashboard.html", base=base, title="Dashboard", body=Markup(body),
                events_href=f"{base}/dashboard/events")


_EVENTS_DOC: dict[str, Any] = {
    "x-fastproc-extension": _EXTENSION,
    "responses": {"200": {
        "description": "`event: dashboard` messages whose data is the dashboard's body as "
                       "HTML, one per reading (every FASTPROC_DASHBOARD_INTERVAL seconds).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }, "429": {
        "description": "Too many live dashboards open, by this caller "
                       "(FASTPROC_DASHBOARD_STREAMS_PER_CALLER) or in all "
                       "(FASTPROC_DASHBOARD_STREAMS).",
    }},
}


@router.get("/dashboard/events", summary="The dashboard's body, live (Server-Sent Events)",
            openapi_extra=_EVENTS_DOC, response_class=EventSourceResponse)
async def dashboard_events(request: Request, state: State) -> EventSourceResponse:
    insights = insights_of(request)
    viewer = insights.viewer(request, state.auth)
    base = base_url(request, state.settings.base_url)
    insights.streams.take(viewer.caller)
    return _HeldStream(_frames(insights.feed, view=viewer.view, base=base),
                       ended=lambda: insights.streams.give_back(viewer.caller))


class _HeldStream(EventSourceResponse):
    """A stream that gives its place back when it ends, however it ends (the viewer leaves,
    the server stops, sending fails): the place is taken before the response starts, so the
    429 can still be sent, and given back by the one call every response gets."""

    def __init__(self, frames: AsyncIterator[ServerSentEvent], *,
                 ended: Callable[[], None]) -> None:
        super().__init__(frames, ping=KEEPALIVE)
        self._ended = ended

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._ended()


async def _frames(feed: DashboardFeed, *, view: View, base: str
                  ) -> AsyncIterator[ServerSentEvent]:
    async with feed.watch() as readings:
        while True:
            figures = await readings.get()
            body = feed.rendered(figures, _body, view=view, base=base)
            yield ServerSentEvent(body, event="dashboard", id=str(figures.at_ms))
