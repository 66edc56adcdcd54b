"""`key=value` arguments as execute inputs, read through the process description's schemas.

- strings are sent as typed: `value=hello`, `value=42` for a string input stays `"42"`;
- numbers, integers, booleans, null, arrays and objects are JSON literals:
  `a=1.5`, `flag=true`, `words='["a","b"]'`;
- `key=@path` sends the file's contents: base64 in a qualified value when the input's schema
  is binary, otherwise the file's text read as above (a JSON file for an array input);
  `key=\\@text` is the literal text `@text`;
- a key given again adds an occurrence, for inputs with `maxOccurs` above one.
"""

from __future__ import annotations

import base64
import json
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastproc.client.errors import InputError
from fastproc.ogc.content import accepts_binary, json_kind
from fastproc.ogc.models import InputDescription, ProcessDescription

_COMBINATIONS = ("anyOf", "oneOf", "allOf")
OCTET_STREAM = "application/octet-stream"


def parse_inputs(arguments: Sequence[str], description: ProcessDescription) -> dict[str, Any]:
    """The `inputs` member of an execute request.

    >>> parse_inputs(["a=1", "b=2.5"], ogc.describe("add"))
    {'a': 1, 'b': 2.5}
    """
    occurrences: dict[str, list[Any]] = {}
    for argument in arguments:
        name, sep, text = argument.partition("=")
        if not sep or not name:
            raise InputError(f"'{argument}' is not key=value")
        spec = description.inputs.get(name)
        if spec is None:
            known = ", ".join(description.inputs) or "none"
            raise InputError(f"process '{description.id}' has no input '{name}' "
                             f"(its inputs: {known})")
        occurrences.setdefault(name, []).append(parse_value(name, text, spec.schema_))
    return {name: _occurrences(name, values, description.inputs[name])
            for name, values in occurrences.items()}


def _occurrences(name: str, values: list[Any], spec: InputDescription) -> Any:
    if len(values) == 1:
        return values[0]
    if spec.maxOccurs != "unbounded" and len(values) > spec.maxOccurs:
        raise InputError(f"input '{name}' takes at most {spec.maxOccurs} value(s), "
                         f"got {len(values)}")
    return values


def parse_value(name: str, text: str, schema: dict[str, Any]) -> Any:
    """One occurrence of input `name` from its command-line text."""
    if text.startswith("@"):
        return _from_file(name, Path(text[1:]), schema)
    if text.startswith("\\@"):
        text = text[1:]
    return _from_text(name, text, schema)


def _from_text(name: str, text: str, schema: dict[str, Any]) -> Any:
    kinds = json_types(schema)
    literal, parsed = _json_literal(text)
    if parsed and (not kinds or _fits(literal, kinds)) and not isinstance(literal, str):
        return literal
    if not kinds or "string" in kinds:
        return text
    wanted = " or ".join(sorted(kinds))
    raise InputError(f"input '{name}' takes {wanted} (as JSON), not {text!r}")


def _from_file(name: str, path: Path, schema: dict[str, Any]) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"input '{name}': cannot read {path}: {exc.strerror or exc}") from exc
    if accepts_binary(schema):
        return {"value": base64.b64encode(data).decode("ascii"), "encoding": "base64",
                "mediaType": _file_media_type(schema, path)}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"input '{name}': {path} is not UTF-8 text and the input is not "
                         "binary") from exc
    return _from_text(name, text, schema)


def json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a schema admits, looking into anyOf/oneOf/allOf; empty when unsaid."""
    found: set[str] = set()
    kind = schema.get("type")
    if isinstance(kind, str):
        found.add(kind)
    elif isinstance(kind, list):
        found.update(str(k) for k in kind)
    for combination in _COMBINATIONS:
        for sub in schema.get(combination) or ():
            if isinstance(sub, dict):
                found |= json_types(sub)
    if not found and isinstance(schema.get("enum"), list):
        found = {json_kind(v) for v in schema["enum"]}
    if found and schema.get("nullable") is True:
        found.add("null")
    return found


def _file_media_type(schema: dict[str, Any], path: Path) -> str:
    declared = schema.get("contentMediaType")
    if isinstance(declared, str) and "*" not in declared:
        return declared
    return mimetypes.guess_type(path.name)[0] or OCTET_STREAM


def _json_literal(text: str) -> tuple[Any, bool]:
    """(value, True) for a JSON text; NaN and Infinity are not JSON and stay text."""
    try:
        return json.loads(text, parse_constant=_refuse), True
    except ValueError:
        return None, False


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _fits(value: Any, kinds: set[str]) -> bool:
    kind = json_kind(value)
    if kind in kinds:
        return True
    if kind == "integer":
        return "number" in kinds
    return kind == "number" and "integer" in kinds and float(value).is_integer()
