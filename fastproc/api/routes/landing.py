"""`/`, `/conformance`, `/api` and `/api.html`: what a client reads first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from fastproc.api.html import page
from fastproc.api.html.render import SWAGGER_UI_PATH
from fastproc.api.negotiation import HTML_TOO, Format, Negotiated, add_alternate, require_json
from fastproc.api.responses import JSONResponse, base_url, link
from fastproc.api.state import AppState, get_state
from fastproc.ogc import conformance, media
from fastproc.ogc.models import ConfClasses, LandingPage

router = APIRouter(tags=["Capabilities"])
State = Annotated[AppState, Depends(get_state)]


@router.get("/", summary="Landing page",
            responses={200: {"model": LandingPage, "content": HTML_TOO}})
async def landing(request: Request, state: State, fmt: Negotiated) -> Response:
    base = base_url(request, state.settings.base_url)
    doc = add_alternate({
        "title": state.settings.title,
        "description": state.settings.description,
        "links": [
            link(f"{base}/", media.REL_SELF, title="this document"),
            link(f"{base}/api", media.REL_SERVICE_DESC, media.OPENAPI_JSON,
                 "the API definition"),
            link(f"{base}/api.html", media.REL_SERVICE_DOC, media.HTML, "the API documentation"),
            link(f"{base}/conformance", media.REL_CONFORMANCE, title="conformance classes"),
            link(f"{base}/processes", media.REL_PROCESSES, title="processes"),
            link(f"{base}/jobs", media.REL_JOB_LIST, title="jobs"),
        ],
    }, f"{base}/", fmt)
    if fmt is Format.HTML:
        return page(request, "landing.html", base=base, doc=doc, title=state.settings.title)
    return JSONResponse(doc)


@router.get("/conformance", summary="Conformance classes",
            responses={200: {"model": ConfClasses, "content": HTML_TOO}})
async def conformance_classes(request: Request, state: State, fmt: Negotiated) -> Response:
    doc = {"conformsTo": conformance.declared(
        remote_processes=state.settings.workflow_remote)}
    if fmt is Format.HTML:
        return page(request, "conformance.html", doc=doc, title="Conformance",
                    base=base_url(request, state.settings.base_url))
    return JSONResponse(doc)


@router.get("/api", summary="This API as OpenAPI 3.0", include_in_schema=True)
async def api_definition(request: Request, state: State) -> Response:
    """JSON whatever a browser's Accept prefers, since the service-desc link promises that
    type; only an explicit `f=html` gets the documentation page (also at /api.html)."""
    if request.query_params.get("f", "").lower() == Format.HTML:
        return await api_documentation(request, state)
    await require_json(request)
    return JSONResponse(request.app.openapi(), media_type=media.OPENAPI_JSON)


@router.get("/api.html", include_in_schema=False)
async def api_documentation(request: Request, state: State) -> Response:
    """Swagger UI on /api, served from the assets of the swagger-ui-bundle package."""
    base = base_url(request, state.settings.base_url)

    def swagger(path: str) -> str:
        return f"{base}{SWAGGER_UI_PATH}/{path}"

    return page(request, "api.html", base=base, swagger=swagger, openapi_href=f"{base}/api",
                title="API documentation")
