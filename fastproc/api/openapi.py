"""The OpenAPI document as 3.0 (the oas30 class requires it; FastAPI writes 3.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from fastproc.ogc import media
from fastproc.ogc.models import Exception_, ExecuteRequest, StatusInfo
from fastproc.ogc.schema import to_oas30

_REF_TEMPLATE = "#/components/schemas/{model}"


def _extra_components() -> dict[str, Any]:
    """Models referenced only from hand-written operation parts (the execute body)."""
    out: dict[str, Any] = {}
    for name, model in (("Execute", ExecuteRequest), ("StatusInfo", StatusInfo),
                        ("Exception", Exception_)):
        schema = TypeAdapter(model).json_schema(ref_template=_REF_TEMPLATE, by_alias=True)
        for def_name, definition in schema.pop("$defs", {}).items():
            out.setdefault(def_name, definition)
        out[name] = schema
    return out


_PROBLEM = {"description": "An OGC exception (RFC 7807 problem details); a page for browsers",
            "content": {media.PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Exception"}},
                        media.HTML: {"schema": {"type": "string"}}}}

#: What any operation may answer besides success, as the error handlers produce it.
_ERRORS = {"400": "Invalid request or parameter", "404": "No such resource",
           "406": "Format not offered", "500": "Server error, or a job's own failure",
           "503": "Redis unreachable"}

#: Operations whose success is whatever media type the outputs have.
_ANY_CONTENT = ("/processes/{process_id}/execution", "/jobs/{job_id}/results",
                "/jobs/{job_id}/results/{output_id}")


def _describe_errors(doc: dict[str, Any]) -> None:
    """Document the answers the server really gives: FastAPI's 422 never happens here
    (validation errors are 400; a 422 an operation declares itself, such as Part 4's
    `unsupported-schema`, stays), and every operation can answer the OGC exceptions."""
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            declared = responses.get("422")
            if declared is not None and declared.get("description") == "Validation Error":
                responses.pop("422")
            elif declared is not None and "HTTPValidationError" in str(declared.get("content")):
                declared["content"] = _PROBLEM["content"]  # FastAPI's schema, our text
            for code, text in _ERRORS.items():
                responses.setdefault(code, {**_PROBLEM, "description": text})
            for code, response in responses.items():  # an error a route declares by text
                if code[0] in "45" and "content" not in response:
                    response.update({**_PROBLEM, "description": response.get("description")
                                     or _PROBLEM["description"]})
            if method == "delete":
                responses.setdefault("410", {**_PROBLEM, "description": "Already dismissed"})
            if path == "/processes/{process_id}/execution":
                responses.setdefault("413", {**_PROBLEM, "description": "Body too large"})
                responses.setdefault("429", {**_PROBLEM, "description": "Queue cap reached"})
                responses.setdefault("415", {**_PROBLEM, "description": "Not JSON"})
            if path in _ANY_CONTENT:
                ok = responses.setdefault("200", {"description": "Results"})
                ok.setdefault("content", {}).setdefault("*/*", {"schema": {}})
                responses.setdefault("410", {**_PROBLEM, "description": "Dismissed"})


@dataclass(frozen=True, slots=True)
class Security:
    """Which keys the server asks for: API keys on execution and job routes, and its own
    key on `/metrics`."""

    keys: bool = False
    metrics_key: bool = False


#: How a key is presented (see `fastproc.api.auth.presented_key`): either scheme will do.
_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer",
                   "description": "`Authorization: Bearer <key>`"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "`X-API-Key: <key>`"},
}
_EITHER_SCHEME: list[dict[str, list[str]]] = [{name: []} for name in _SCHEMES]

#: Tags of the routers whose operations call `authenticate` (execution, jobs, job events).
_KEYED_TAGS = frozenset({"Execution", "Jobs", "Job management"})


def _describe_security(doc: dict[str, Any], security: Security) -> None:
    """Declare the key schemes and put them on the operations that need a key, with the
    401 and 403 those answer, so a client generated from the document sends its key."""
    if not (security.keys or security.metrics_key):
        return
    doc.setdefault("components", {})["securitySchemes"] = _SCHEMES
    for path, item in doc.get("paths", {}).items():
        for operation in item.values():
            keyed = security.keys and _KEYED_TAGS & set(operation.get("tags", ()))
            if keyed or (security.metrics_key and path == "/metrics"):
                operation["security"] = _EITHER_SCHEME
                responses = operation.setdefault("responses", {})
                responses.setdefault("401", {**_PROBLEM, "description": "No valid key"})
                if keyed:
                    responses.setdefault("403", {**_PROBLEM,
                                                 "description": "A read-only key"})


def openapi_30(app: FastAPI, security: Security | None = None) -> dict[str, Any]:
    if app.openapi_schema is None:
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes, openapi_version="3.0.3")
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in _extra_components().items():
            components.setdefault(name, schema)
        _describe_errors(doc)
        _describe_security(doc, security or Security())
        app.openapi_schema = to_oas30(doc)
    return app.openapi_schema
