"""What an input's or output's schema says about its content: whether its values are the
bytes of a file. The one definition the API's forms and schema text, the worker's fetch of
references and the client's reading of files all use.

OpenAPI 3.0 (what OGC API - Processes 1.0 uses) marks bytes with `format: binary` (raw) or
`format: byte` (base64); JSON Schema with `contentEncoding: base64` (or `binary`, as the
standard's examples write it). A `contentMediaType` alone does not: `text/csv` content in a
string is text.
"""

from __future__ import annotations

from typing import Any

BINARY_FORMATS = frozenset({"binary", "byte"})
BINARY_ENCODINGS = frozenset({"base64", "binary"})
_ALTERNATIVES = ("oneOf", "anyOf", "allOf")


def is_binary(schema: Any) -> bool:
    """Whether this schema's values are the bytes of a file (base64 in JSON).

    >>> is_binary({"type": "string", "format": "binary", "contentMediaType": "image/png"})
    True
    >>> is_binary({"type": "string", "contentMediaType": "text/csv"})
    False
    """
    return isinstance(schema, dict) and (
        schema.get("format") in BINARY_FORMATS
        or schema.get("contentEncoding") in BINARY_ENCODINGS)


def accepts_binary(schema: Any) -> bool:
    """Whether bytes are one of the values this schema takes: it is binary, or one of its
    `oneOf`/`anyOf`/`allOf` alternatives is."""
    return is_binary(schema) or (isinstance(schema, dict) and any(
        accepts_binary(sub) for key in _ALTERNATIVES for sub in schema.get(key) or ()))


def json_kind(value: Any) -> str:
    """The JSON Schema type name of a decoded JSON value (`integer` before `number`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"
