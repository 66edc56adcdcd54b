"""HTML-only routes that the pages' forms post to, since a browser without JavaScript can send
neither a JSON body nor a DELETE: run a process from its form or save it as a created job
(Part 4), start a created job, run a job again, dismiss a job.

Each calls what the JSON API's routes call — the execute use case (`fastproc.execution`, its
job management intents in `execution.drafts`) and the jobs service — so input validation,
the result cache, queueing and dismissal live in one place: a job started from a form is
the job a JSON client gets from `POST /processes/{id}/execution` with `Prefer:
respond-async`, a draft the one of `POST /jobs`, a re-run the one of `POST /jobs/{id}/rerun`
then `POST /jobs/{id}/results`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from fastproc.api.access import find_process, visible_record
from fastproc.api.answers import render_outcome
from fastproc.api.auth import authenticate
from fastproc.api.html.forms import fields_of, inputs_from_form
from fastproc.api.html.render import (
    DISMISS_FORM_PATH,
    DRAFT_FORM_PATH,
    RERUN_FORM_PATH,
    RUN_FORM_PATH,
    START_FORM_PATH,
)
from fastproc.api.negotiation import Format, with_format
from fastproc.api.origin import refuse_cross_site
from fastproc.api.responses import base_url
from fastproc.api.state import AppState, get_state
from fastproc.execution import Asked
from fastproc.execution.drafts import Drafts, definition_of
from fastproc.ogc.models import JobControlOption

#: Forms post without a CORS preflight, so a page elsewhere could post them: see `origin`.
router = APIRouter(tags=["HTML forms"], include_in_schema=False,
                   dependencies=[Depends(refuse_cross_site)])
State = Annotated[AppState, Depends(get_state)]


@router.post(RUN_FORM_PATH)
async def run_from_form(process_id: str, request: Request, state: State) -> Response:
    """Build the execute request from the form, execute it asynchronously and send the
    browser to the job's page (303, so a reload does not post the form again). The caller
    is checked before the form is read: a body is never read for a caller refused anyway."""
    caller = authenticate(request, state.auth, execute=True)
    proc = await find_process(state, process_id)
    async with request.form() as form:
        inputs = await inputs_from_form(fields_of(proc.description), form)
    base = base_url(request, state.settings.base_url)
    # A process that runs synchronously anyway skips the cache, so there is a job to show
    # rather than bare results.
    asked = Asked(base, owner=caller.name if caller else None, prefers_async=True,
                  no_cache=JobControlOption.ASYNC not in proc.description.jobControlOptions)
    outcome = await state.execution.execute(proc, {"inputs": inputs}, asked)
    response = await render_outcome(outcome, asked, state.jobs)
    if outcome.job_id is None:
        return response
    href = f"{base}/jobs/{outcome.job_id}"
    return RedirectResponse(with_format(href, Format.HTML), status_code=303)


@router.post(DISMISS_FORM_PATH)
async def dismiss_from_form(job_id: str, request: Request, state: State) -> Response:
    """Dismiss a job that is still queued or running, then show its page. A job that ended
    meanwhile is left alone, even if it ends between the check and the dismissal: the
    button meant "stop it", not "delete its results". The job is looked up as the JSON
    routes do, so their checks (it exists, the caller may see it) hold here too."""
    record = await visible_record(state, job_id, request)
    if not record.status.terminal:
        await state.jobs.stop(record)
    href = f"{base_url(request, state.settings.base_url)}/jobs/{job_id}"
    return RedirectResponse(with_format(href, Format.HTML), status_code=303)


@router.post(DRAFT_FORM_PATH)
async def draft_from_form(process_id: str, request: Request, state: State) -> Response:
    """Save the form as a created job (Part 4's `POST /jobs`): checked as an execution is,
    not started; its page offers to start it."""
    caller = authenticate(request, state.auth, execute=True)
    proc = await find_process(state, process_id)
    async with request.form() as form:
        inputs = await inputs_from_form(fields_of(proc.description), form)
    base = base_url(request, state.settings.base_url)
    asked = Asked(base, owner=caller.name if caller else None)
    definition = {"process": f"{base}/processes/{proc.description.id}", "inputs": inputs}
    record = await Drafts(state.execution, state.settings).create(definition, asked)
    return _to_job(base, record.job_id)


@router.post(START_FORM_PATH)
async def start_from_form(job_id: str, request: Request, state: State) -> Response:
    """Start a created job (Part 4's `POST /jobs/{id}/results`), then show its page."""
    authenticate(request, state.auth, execute=True)
    record = await visible_record(state, job_id, request)
    base = base_url(request, state.settings.base_url)
    await Drafts(state.execution, state.settings).start(record, Asked(base, owner=record.owner))
    return _to_job(base, job_id)


@router.post(RERUN_FORM_PATH)
async def rerun_from_form(job_id: str, request: Request, state: State) -> Response:
    """Run a job again: a new job with its definition (`POST /jobs/{id}/rerun`), started at
    once; the browser goes to the new job's page."""
    caller = authenticate(request, state.auth, execute=True)
    record = await visible_record(state, job_id, request)
    base = base_url(request, state.settings.base_url)
    asked = Asked(base, owner=caller.name if caller else None)
    drafts = Drafts(state.execution, state.settings)
    new = await drafts.create(definition_of(record, base), asked)
    await drafts.start(new, asked)
    return _to_job(base, new.job_id)


def _to_job(base: str, job_id: str) -> Response:
    """303 to the job's page, so a reload does not post the form again."""
    return RedirectResponse(with_format(f"{base}/jobs/{job_id}", Format.HTML), status_code=303)
