"""`/`, `/conformance` and `/api`: what a client reads first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.negotiation import require_json
from fastproc.api.responses import JSONResponse, base_url, link
from fastproc.api.state import AppState, get_state
from fastproc.ogc import conformance, media
from fastproc.ogc.models import ConfClasses, LandingPage

router = APIRouter(tags=["Capabilities"], dependencies=[Depends(require_json)])
State = Annotated[AppState, Depends(get_state)]


@router.get("/", summary="Landing page", responses={200: {"model": LandingPage}})
async def landing(request: Request, state: State) -> Response:
    base = base_url(request, state.settings.base_url)
    return JSONResponse({
        "title": "fastproc",
        "description": "OGC API - Processes service",
        "links": [
            link(f"{base}/", media.REL_SELF, title="this document"),
            link(f"{base}/api", media.REL_SERVICE_DESC, media.OPENAPI_JSON,
                 "the API definition"),
            link(f"{base}/api.html", media.REL_SERVICE_DOC, media.HTML, "the API documentation"),
            link(f"{base}/conformance", media.REL_CONFORMANCE, title="conformance classes"),
            link(f"{base}/processes", media.REL_PROCESSES, title="processes"),
            link(f"{base}/jobs", media.REL_JOB_LIST, title="jobs"),
        ],
    })


@router.get("/conformance", summary="Conformance classes", responses={200: {"model": ConfClasses}})
async def conformance_classes() -> Response:
    return JSONResponse({"conformsTo": list(conformance.IMPLEMENTED)})


@router.get("/api", summary="This API as OpenAPI 3.0", include_in_schema=True)
async def api_definition(request: Request) -> Response:
    return JSONResponse(request.app.openapi(), media_type=media.OPENAPI_JSON)


@router.get("/api.html", include_in_schema=False)
async def api_documentation() -> Response:
    return get_swagger_ui_html(openapi_url="/api", title="fastproc - API")
