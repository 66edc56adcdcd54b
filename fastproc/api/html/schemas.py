"""Process input and output schemas (OpenAPI 3.0 Schema Objects) as one line a person reads:
`number, 0 ≤ x ≤ 3600`, `array of string`, `one of "a", "b"`, `binary file (image/png)`.

The full schema stays on the page as JSON; this line is what most readers need.
"""

from __future__ import annotations

from typing import Any

import orjson

from fastproc.ogc.content import is_binary


def _literal(value: Any) -> str:
    return orjson.dumps(value).decode()


def _number_bounds(schema: dict[str, Any]) -> str:
    low, high = schema.get("minimum"), schema.get("maximum")
    low_op = "<" if schema.get("exclusiveMinimum") is True else "≤"
    high_op = "<" if schema.get("exclusiveMaximum") is True else "≤"
    if low is not None and high is not None:
        return f"{low} {low_op} x {high_op} {high}"
    if low is not None:
        return f"x {'>' if low_op == '<' else '≥'} {low}"
    if high is not None:
        return f"x {high_op} {high}"
    return ""


def _string_facts(schema: dict[str, Any]) -> list[str]:
    facts = []
    if "format" in schema:
        facts.append(str(schema["format"]))
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None or high is not None:
        facts.append(f"{low or 0} to {high if high is not None else '∞'} characters")
    if "pattern" in schema:
        facts.append(f"matching {schema['pattern']}")
    if "contentMediaType" in schema:
        facts.append(str(schema["contentMediaType"]))
    return facts


def _count(schema: dict[str, Any], low_key: str, high_key: str, noun: str) -> str:
    low, high = schema.get(low_key), schema.get(high_key)
    if low is None and high is None:
        return ""
    if low == high:
        return f"{low} {noun}"
    return f"{low or 0} to {high if high is not None else '∞'} {noun}"


def _text(schema: Any, depth: int) -> str:
    if not isinstance(schema, dict) or not schema:
        return "any value"
    if depth > 3:
        return "…"
    text = _core(schema, depth)
    if schema.get("nullable") is True:
        text += " or null"
    return text


def _core(schema: dict[str, Any], depth: int) -> str:
    if is_binary(schema):
        return f"binary file ({schema.get('contentMediaType', 'application/octet-stream')})"
    if "enum" in schema:
        return "one of " + ", ".join(_literal(v) for v in schema["enum"])
    for combo, word in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if isinstance(schema.get(combo), list):
            return word.join(_text(sub, depth + 1) for sub in schema[combo])
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    kind = schema.get("type")
    if kind in ("number", "integer"):
        bounds = _number_bounds(schema)
        facts = [bounds] if bounds else []
        if "multipleOf" in schema:
            facts.append(f"multiple of {schema['multipleOf']}")
        return ", ".join([str(kind), *facts])
    if kind == "string":
        return ", ".join(["string", *_string_facts(schema)])
    if kind == "array":
        count = _count(schema, "minItems", "maxItems", "items")
        text = f"array of {_text(schema.get('items'), depth + 1)}"
        return f"{text} ({count})" if count else text
    if kind == "object" or "properties" in schema:
        names = list(schema.get("properties", {}))
        required = set(schema.get("required", []))
        if not names:
            return "object"
        shown = ", ".join(f"{n}{'' if n in required else '?'}" for n in names[:8])
        return f"object ({shown}{', …' if len(names) > 8 else ''})"
    return str(kind) if kind else "any value"


def schema_text(schema: Any) -> str:
    """One line describing a schema.

    >>> schema_text({"type": "number", "minimum": 0, "maximum": 3600})
    'number, 0 ≤ x ≤ 3600'
    """
    return _text(schema, 0)


def occurs_text(min_occurs: int, max_occurs: int | str) -> str:
    """`required`, `optional`, or how many values an input takes when it takes several."""
    if max_occurs == 1:
        return "required" if min_occurs > 0 else "optional"
    upper = "any number of" if max_occurs == "unbounded" else f"up to {max_occurs}"
    return f"{'at least ' + str(min_occurs) + ', ' if min_occurs > 0 else ''}{upper} values"
