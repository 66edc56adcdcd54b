"""OGC API - Processes - Part 4 (draft 24-051), class `provenance`: `GET /jobs/{id}/inputs`
and `GET /jobs/{id}/prov` (PROV-JSON, or PROV-N by `Accept: text/provenance-notation` or
`f=provn`). What they hold is built by `fastproc.execution.prov_documents`; this module picks
the form and renders."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from fastproc.api.access import visible_record
from fastproc.api.negotiation import accepted_ranges, require_json
from fastproc.api.responses import JSONResponse, base_url, state_of
from fastproc.execution.prov_documents import (
    PROV_FORMATS,
    PROV_JSON,
    PROV_N,
    job_inputs,
    job_provenance,
    prov_n,
)
from fastproc.ogc.exceptions import NotAcceptable

router = APIRouter(tags=["Job management"])

_OFFERED = ", ".join(PROV_FORMATS)


def _prov_format(request: Request) -> str:
    """The media type to answer with: `f` wins over `Accept`; the first type of the
    highest quality the client accepts (`*/*` and `application/*` take PROV-JSON)."""
    f = request.query_params.get("f")
    if f is not None:
        for media_type, name in PROV_FORMATS.items():
            if f.lower() == name:
                return media_type
        raise NotAcceptable(f"format '{f[:50]}' is not offered here; use f=json or f=provn")
    accept = request.headers.get("accept")
    if not accept:
        return PROV_JSON
    best, best_q = None, 0.0
    for name, quality in accepted_ranges(accept).items():
        chosen = {"*/*": PROV_JSON, "application/*": PROV_JSON,
                  "text/*": PROV_N}.get(name, name)
        if chosen in PROV_FORMATS and quality > best_q:
            best, best_q = chosen, quality
    if best is None:
        raise NotAcceptable(f"none of '{accept[:200]}' can be served; this resource is "
                            f"{_OFFERED}")
    return best


@router.get("/jobs/{job_id}/inputs", summary="Inputs a job ran with",
            responses={200: {"description": "The job's inputs (inputs.yaml of Part 4): "
                             "references with what was fetched, each occurrence's sha256 "
                             "in metadata"}})
async def get_job_inputs(job_id: str, request: Request) -> Response:
    """The inputs the job ran with; a reference with the media type, length and sha256 of
    what its worker fetched (before the fetch: as given)."""
    await require_json(request)
    state = state_of(request)
    record = await visible_record(state, job_id, request)
    return JSONResponse(await job_inputs(state.jobs, record))


@router.get("/jobs/{job_id}/prov", summary="Provenance of a job (W3C PROV)",
            responses={200: {"description": "PROV-JSON (default) or PROV-N", "content": {
                PROV_JSON: {"schema": {"type": "object"}},
                PROV_N: {"schema": {"type": "string"}}}}})
async def get_job_prov(job_id: str, request: Request) -> Response:
    """The job as a PROV activity, with its inputs, outputs, worker, process, parts and
    nested processes; a job that has not ended, with what is known so far."""
    media_type = _prov_format(request)
    state = state_of(request)
    record = await visible_record(state, job_id, request)
    doc = await job_provenance(state.jobs, record,
                               base_url(request, state.settings.base_url))
    if media_type == PROV_N:
        return PlainTextResponse(prov_n(doc), media_type=PROV_N)
    return JSONResponse(doc)
