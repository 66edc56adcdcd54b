"""Validating documents against the official OGC API - Processes 1.0 schemas.

The schemas in `tests/ogc_schemas/` are OpenAPI 3.0 Schema Objects with relative `$ref`s
between files. `validate(doc, "statusInfo")` reads them as JSON Schema 2020-12:

- every file becomes a resource of a `referencing` registry under the URI it is published at,
  so `$ref: "link.yaml"` resolves to the sibling file;
- `nullable: true` becomes a union with `null` (and `nullable: false` is dropped);
- boolean `exclusiveMinimum`/`exclusiveMaximum` take the numeric form of `minimum`/`maximum`;
- `oneOf` is read as `anyOf`: the standard's choices overlap (string vs binary string, number
  vs integer), and under strict `oneOf` every plain string or integer would fail.

The walk knows which keywords hold schemas, so property *names* such as `nullable`, `oneOf`
or `exclusiveMinimum` (schema.yaml describes the Schema Object itself) are left alone.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SCHEMAS = Path(__file__).resolve().parent / "ogc_schemas"
#: Where the 1.0 schemas are published; the relative `$ref`s resolve against it.
BASE_URI = "https://schemas.opengis.net/ogcapi/processes/part1/1.0/openapi/schemas/"

_SCHEMA_MAPS = ("properties", "patternProperties")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_ONES = ("items", "additionalProperties", "not")


def to_json_schema(schema: Any) -> Any:
    """One OpenAPI 3.0 Schema Object (or a boolean schema) as JSON Schema 2020-12."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            continue  # handled below, with the bound it qualifies
        if key in _SCHEMA_MAPS:
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS:
            converted = [to_json_schema(sub) for sub in value]
            if key == "allOf":
                out.setdefault("allOf", []).extend(converted)
            elif key == "oneOf" and "anyOf" in schema:  # both: each stays its own conjunct
                out.setdefault("allOf", []).append({"anyOf": converted})
            else:
                out["anyOf"] = converted
        elif key in _SCHEMA_ONES:
            out[key] = to_json_schema(value)
        else:
            out[key] = value  # keywords with plain values: type, enum, default, example...
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if schema.get(flag) is True and bound in out:
            out[flag] = out.pop(bound)
    if schema.get("nullable") is True:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


def _load(name: str) -> dict[str, Any]:
    raw = yaml.safe_load((SCHEMAS / name).read_text(encoding="utf-8"))
    converted = to_json_schema(raw)
    if not isinstance(converted, dict):
        raise TypeError(f"{name} is not a schema object")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": BASE_URI + name, **converted}


@functools.cache
def registry() -> Registry:
    resources = [
        (BASE_URI + path.name, DRAFT202012.create_resource(_load(path.name)))
        for path in sorted(SCHEMAS.glob("*.yaml"))
    ]
    if len(resources) != 30:
        raise RuntimeError(f"expected the 30 OGC 1.0 schemas in {SCHEMAS}, found {len(resources)}")
    return Registry().with_resources(resources)


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """The cached validator of one schema, by file name without `.yaml` (e.g. "statusInfo")."""
    contents = registry().contents(BASE_URI + f"{name}.yaml")
    return Draft202012Validator(
        contents, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _describe(error: ValidationError) -> str:
    where = "".join(f"[{p!r}]" for p in error.absolute_path) or "(document)"
    rule = "/".join(str(p) for p in error.absolute_schema_path)
    return f"  at {where}: {error.message}  (schema: {rule})"


def validate(doc: Any, name: str) -> Any:
    """Assert that `doc` is valid against the OGC schema `name`; returns `doc` for chaining."""
    errors = sorted(validator(name).iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        best = best_match(errors)
        shown = "\n".join(_describe(e) for e in errors[:8])
        more = f"\n  ... and {len(errors) - 8} more" if len(errors) > 8 else ""
        text = json.dumps(doc, indent=1, default=str)
        if len(text) > 2000:
            text = text[:2000] + " ..."
        raise AssertionError(
            f"document is not a valid OGC {name}.yaml:\n"
            f"most relevant:\n{_describe(best)}\nall:\n{shown}{more}\ndocument:\n{text}"
        )
    return doc
