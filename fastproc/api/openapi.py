"""The OpenAPI document as 3.0 (the oas30 class requires it; FastAPI writes 3.1)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from fastproc.ogc.models import ExecuteRequest, StatusInfo
from fastproc.ogc.schema import to_oas30

_REF_TEMPLATE = "#/components/schemas/{model}"


def _extra_components() -> dict[str, Any]:
    """Models referenced only from hand-written operation parts (the execute body)."""
    out: dict[str, Any] = {}
    for name, model in (("Execute", ExecuteRequest), ("StatusInfo", StatusInfo)):
        schema = TypeAdapter(model).json_schema(ref_template=_REF_TEMPLATE, by_alias=True)
        for def_name, definition in schema.pop("$defs", {}).items():
            out.setdefault(def_name, definition)
        out[name] = schema
    return out


def openapi_30(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes, openapi_version="3.0.3")
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in _extra_components().items():
            components.setdefault(name, schema)
        app.openapi_schema = to_oas30(doc)
    return app.openapi_schema
