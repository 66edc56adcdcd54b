"""HTML-only routes that the pages' forms post to, since a browser without JavaScript can send
neither a JSON body nor a DELETE: run a process from its form, dismiss a job.

Both hand the work to the JSON API's own handlers (`execute`, `dismiss_job`), so input
validation, the result cache, queueing and dismissal live in one place, and a job started
from a form is the job a JSON client gets from `POST /processes/{id}/execution` with
`Prefer: respond-async`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import Message

from fastproc.api.html.forms import fields_of, inputs_from_form
from fastproc.api.html.render import DISMISS_FORM_PATH, RUN_FORM_PATH
from fastproc.api.negotiation import Format, with_format
from fastproc.api.origin import refuse_cross_site
from fastproc.api.responses import base_url
from fastproc.api.routes.execution import execute
from fastproc.api.routes.jobs import visible_record
from fastproc.api.routes.processes import find_process
from fastproc.api.service import jobs_of
from fastproc.api.state import AppState, get_state
from fastproc.ogc import media
from fastproc.ogc.models import JobControlOption

#: Forms post without a CORS preflight, so a page elsewhere could post them: see `origin`.
router = APIRouter(tags=["HTML forms"], include_in_schema=False,
                   dependencies=[Depends(refuse_cross_site)])
State = Annotated[AppState, Depends(get_state)]

#: Headers of the form post that must not describe the JSON request made from it.
_REPLACED = frozenset({b"content-type", b"content-length", b"prefer", b"cache-control"})
_MONITOR = re.compile(r'<([^>]+)>\s*;[^,]*rel="?monitor"?')


def _json_request(request: Request, body: dict[str, Any], headers: dict[str, str]) -> Request:
    """The form post as the JSON execute request it stands for: same client, host and
    forwarding headers (so links come out the same), a JSON body and these headers."""
    data = orjson.dumps(body)
    kept = [(k, v) for k, v in request.scope["headers"] if k.lower() not in _REPLACED]
    added = {"content-type": media.JSON, "content-length": str(len(data)), **headers}
    scope = {**request.scope, "headers": kept + [(k.encode(), v.encode())
                                                 for k, v in added.items()]}

    async def receive() -> Message:
        return {"type": "http.request", "body": data, "more_body": False}

    return Request(scope, receive)


def _job_href(answer: Response) -> str | None:
    """Where the job of an execute answer lives: its Location (async) or monitor link (a
    synchronous execution that ran as a job)."""
    location = answer.headers.get("location")
    if location:
        return location
    found = _MONITOR.search(answer.headers.get("link", ""))
    return found.group(1) if found else None


@router.post(RUN_FORM_PATH)
async def run_from_form(process_id: str, request: Request, state: State) -> Response:
    """Build the execute request from the form, execute it asynchronously and send the
    browser to the job's page (303, so a reload does not post the form again)."""
    proc = await find_process(state, process_id)
    async with request.form() as form:
        inputs = await inputs_from_form(fields_of(proc.description), form)
    headers = {"prefer": "respond-async"}
    if JobControlOption.ASYNC not in proc.description.jobControlOptions:
        # Runs synchronously anyway: skip the cache so there is a job to show, not bare results.
        headers["cache-control"] = "no-cache"
    answer = await execute(process_id, _json_request(request, {"inputs": inputs}, headers), state)
    href = _job_href(answer)
    if href is None:
        return answer
    return RedirectResponse(with_format(href, Format.HTML), status_code=303)


@router.post(DISMISS_FORM_PATH)
async def dismiss_from_form(job_id: str, request: Request, state: State) -> Response:
    """Dismiss a job that is still queued or running, then show its page. A job that ended
    meanwhile is left alone, even if it ends between the check and the dismissal: the
    button meant "stop it", not "delete its results". The job is looked up as the JSON
    routes do, so their checks (it exists, the caller may see it) hold here too."""
    record = await visible_record(state, job_id, request)
    if not record.status.terminal:
        await jobs_of(state).stop(record)
    href = f"{base_url(request, state.settings.base_url)}/jobs/{job_id}"
    return RedirectResponse(with_format(href, Format.HTML), status_code=303)
