"""Translation between JSON Schema 2020-12 (what pydantic emits) and the OpenAPI 3.0 Schema
Objects that OGC API - Processes 1.0 and the oas30 conformance class speak.

Process descriptions publish OAS 3.0 schemas; validation runs on their JSON Schema reading.
The same walk serves the whole OpenAPI document, which FastAPI writes as 3.1.
"""

from __future__ import annotations

from typing import Any

_DEFS_REF = "#/$defs/"


def to_oas30(schema: Any, defs: dict[str, Any] | None = None) -> Any:
    """Rewrite a JSON Schema (2020-12) into an OpenAPI 3.0 Schema Object.

    `$ref`s into `$defs` are inlined when `defs` is given (process descriptions must stand
    alone); other `$ref`s (the OpenAPI document's components) are kept.
    """
    if isinstance(schema, list):
        return [to_oas30(item, defs) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if defs is None and "$defs" in schema:
        defs = schema["$defs"]
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(_DEFS_REF) and defs is not None:
        target = dict(defs[ref[len(_DEFS_REF):]])
        target.update({k: v for k, v in schema.items() if k != "$ref"})
        return to_oas30(target, defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("$defs", "$schema", "$id"):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "examples" and isinstance(value, list):
            if value:
                out["example"] = to_oas30(value[0], defs)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "prefixItems":
            out["items"] = {"anyOf": to_oas30(value, defs)} if value else {}
            out.setdefault("minItems", len(value))
            out.setdefault("maxItems", len(value))
        elif key in ("properties", "patternProperties", "dependentSchemas"):
            out[key] = {name: to_oas30(sub, defs) for name, sub in value.items()}
        else:
            out[key] = to_oas30(value, defs)
    _nullable_to_oas30(out)
    return out


def _nullable_to_oas30(out: dict[str, Any]) -> None:
    kind = out.get("type")
    if isinstance(kind, list):
        rest = [t for t in kind if t != "null"]
        if len(rest) < len(kind):
            out["nullable"] = True
        out["type"] = rest[0] if len(rest) == 1 else rest
        if len(rest) > 1:
            del out["type"]
            out["anyOf"] = [{"type": t} for t in rest]
    for combo in ("anyOf", "oneOf"):
        options = out.get(combo)
        if not isinstance(options, list):
            continue
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == len(options):
            continue
        out["nullable"] = True
        if len(rest) == 1:
            del out[combo]
            out.update({k: v for k, v in rest[0].items() if k not in out})
        else:
            out[combo] = rest


def to_jsonschema(schema: Any) -> Any:
    """Read an OAS 3.0 Schema Object as JSON Schema (2020-12) for validation.

    `nullable` becomes a null alternative, boolean exclusive bounds become numeric ones and
    `oneOf` is read as `anyOf`: the standard's own schemas overlap their choices (string vs
    binary string, number vs integer), and strict `oneOf` would reject plain values.
    """
    if isinstance(schema, list):
        return [to_jsonschema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "nullable":
            continue
        if key == "oneOf":
            out["anyOf"] = to_jsonschema(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            continue
        elif key in ("properties", "patternProperties"):
            out[key] = {name: to_jsonschema(sub) for name, sub in value.items()}
        elif key in ("example", "xml", "externalDocs", "discriminator", "readOnly", "writeOnly",
                     "contentMediaType", "contentEncoding", "deprecated"):
            continue
        else:
            out[key] = to_jsonschema(value)
    for key, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if schema.get(key) is True and bound in out:
            out[key] = out.pop(bound)
    if schema.get("format") == "binary":
        out.pop("format", None)
    if schema.get("nullable") is True:
        out = {"anyOf": [out, {"type": "null"}]}
    return out
