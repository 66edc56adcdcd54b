"""The "try it" form of a process: fields generated from its input schemas, and a submitted
form read back into the `inputs` of an OGC execute request.

Each input becomes one field whose kind follows its schema: text, number (with bounds),
select (enums), checkbox (booleans), lines (arrays of scalars, one value a line), multi-select
(arrays of enums), file (binary inputs, sent as base64 qualified values) or JSON (anything
else). What the form cannot check, the server's input validation does, as for any client.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson
from starlette.datastructures import FormData, UploadFile

from fastproc.api.html.schemas import occurs_text, schema_text
from fastproc.ogc.content import is_binary
from fastproc.ogc.exceptions import InvalidParameterValue
from fastproc.ogc.models import InputDescription, ProcessDescription

_SCALARS = frozenset({"string", "number", "integer", "boolean"})
#: JSON Schema string formats that have an HTML input type of their own.
_INPUT_TYPES = {"date": "date", "email": "email", "uri": "url", "url": "url"}
#: The value of a checkbox that is ticked (a hidden field sends "false" before it).
CHECKED = "true"
#: "Any bytes": as a file input's `accept` it would hide most files in the picker.
_ANY_BYTES = "application/octet-stream"


class Kind(StrEnum):
    TEXT = "text"
    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    SELECT = "select"
    MULTISELECT = "multiselect"
    LINES = "lines"
    FILE = "file"
    JSON = "json"


@dataclass(slots=True)
class Option:
    """One choice of an enum: `value` is its JSON text, so any JSON literal round-trips."""

    value: str
    label: str
    selected: bool = False


@dataclass(slots=True)
class Field:
    """What a template needs to draw one input, and what parsing needs to read it back."""

    name: str
    label: str
    kind: Kind
    required: bool
    description: str = ""
    hint: str = ""
    item_kind: Kind | None = None
    multiple: bool = False
    input_type: str = "text"
    default: str = ""
    checked: bool = False
    minimum: float | None = None
    maximum: float | None = None
    step: str = "any"
    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    accept: str | None = None
    placeholder: str = ""
    options: list[Option] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return f"input-{self.name}"


def _scalar_kind(schema: dict[str, Any]) -> Kind | None:
    kind = schema.get("type")
    if kind == "string" and not is_binary(schema):
        return Kind.TEXT
    if kind == "number":
        return Kind.NUMBER
    if kind == "integer":
        return Kind.INTEGER
    if kind == "boolean":
        return Kind.BOOLEAN
    return None


def _default_text(value: Any, kind: Kind) -> str:
    if value is None:
        return ""
    if kind is Kind.TEXT and isinstance(value, str):
        return value
    if kind is Kind.LINES and isinstance(value, list):
        return "\n".join(v if isinstance(v, str) else _json(v) for v in value)
    if kind is Kind.JSON:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    return _json(value)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _options(values: Sequence[Any], chosen: Any) -> list[Option]:
    picked = chosen if isinstance(chosen, list) else [chosen]
    return [Option(_json(v), v if isinstance(v, str) else _json(v), v in picked) for v in values]


def _accept(schema: dict[str, Any]) -> str | None:
    media_type = schema.get("contentMediaType")
    return str(media_type) if media_type and media_type != _ANY_BYTES else None


def _bounds(target: Field, schema: dict[str, Any]) -> None:
    """HTML min/max; an exclusive integer bound becomes the next integer inside it."""
    integer = target.kind is Kind.INTEGER
    for key, attr, nudge in (("minimum", "minimum", 1), ("maximum", "maximum", -1)):
        bound = schema.get(key)
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            exclusive = schema.get("exclusiveMinimum" if key == "minimum" else "exclusiveMaximum")
            if exclusive is True and integer:
                bound = int(bound) + nudge
            setattr(target, attr, bound)
    target.step = "1" if integer else "any"


def field_for(name: str, description: InputDescription) -> Field:
    """The form field of one input."""
    schema = description.schema_
    several = description.maxOccurs != 1 and schema.get("type") != "array"
    target = Field(
        name=name, label=description.title or name, kind=Kind.JSON,
        required=description.minOccurs > 0, description=description.description or "",
        hint=f"{schema_text(schema)} · {occurs_text(description.minOccurs, description.maxOccurs)}",
    )
    default = schema.get("default")
    example = schema.get("example")
    items = schema.get("items") if schema.get("type") == "array" else schema if several else None
    if items is not None:
        _collection(target, items if isinstance(items, dict) else {}, default)
    elif is_binary(schema):
        target.kind = Kind.FILE
        target.accept = _accept(schema)
    elif "enum" in schema:
        target.kind = Kind.SELECT
        target.options = _options(schema["enum"], default)
    elif (kind := _scalar_kind(schema)) is not None:
        target.kind = kind
        target.checked = default is True
        if kind in (Kind.NUMBER, Kind.INTEGER):
            _bounds(target, schema)
        if kind is Kind.TEXT:
            target.input_type = _INPUT_TYPES.get(str(schema.get("format")), "text")
            target.pattern = schema.get("pattern")
            target.min_length = schema.get("minLength")
            target.max_length = schema.get("maxLength")
    if target.kind not in (Kind.SELECT, Kind.MULTISELECT, Kind.BOOLEAN, Kind.FILE):
        target.default = _default_text(default, target.kind)
        if example is not None:
            target.placeholder = _default_text(example, target.kind).replace("\n", " ")
    return target


def _collection(target: Field, items: dict[str, Any], default: Any) -> None:
    """An array (or several occurrences) of one item schema."""
    target.multiple = True
    if is_binary(items):
        target.kind = Kind.FILE
        target.accept = _accept(items)
    elif "enum" in items:
        target.kind = Kind.MULTISELECT
        target.options = _options(items["enum"], default if default is not None else [])
    elif items.get("type") in _SCALARS:
        target.kind = Kind.LINES
        target.item_kind = _scalar_kind(items)
        target.placeholder = "one value a line"


def fields_of(description: ProcessDescription) -> list[Field]:
    """Every input of a process as a form field, in the description's order."""
    return [field_for(name, d) for name, d in description.inputs.items()]


def prefilled(fields: Sequence[Field], inputs: dict[str, Any]) -> list[str]:
    """Fill `fields` with the values of a job's `inputs` (for "Edit and run"); the names of
    inputs a form cannot show again (a file, a reference), left to their defaults."""
    kept_out: list[str] = []
    for target in fields:
        if target.name not in inputs:
            continue
        given = inputs[target.name]
        # A JSON field sends what it shows as it is: a qualified value stays one.
        value = given if target.kind is Kind.JSON else _unqualified(given)
        if target.kind is Kind.FILE or (isinstance(value, dict) and "href" in value
                                        and target.kind is not Kind.JSON):
            kept_out.append(target.name)
        elif target.kind is Kind.BOOLEAN:
            target.checked = value is True
        elif target.kind in (Kind.SELECT, Kind.MULTISELECT):
            picked = value if isinstance(value, list) else [value]
            for option in target.options:
                option.selected = orjson.loads(option.value) in picked
        else:
            target.default = _default_text(value, target.kind)
    return kept_out


def _unqualified(value: Any) -> Any:
    """The value of a qualified input value (`{"value": ..., "mediaType": ...}`)."""
    if isinstance(value, dict) and "value" in value and set(value) <= {
            "value", "mediaType", "encoding", "schema"}:
        return value["value"]
    return value


def needs_multipart(fields: Sequence[Field]) -> bool:
    """Files need multipart/form-data; anything else posts as urlencoded."""
    return any(f.kind is Kind.FILE for f in fields)


def _invalid(name: str, text: str, what: str) -> InvalidParameterValue:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return InvalidParameterValue(f"input '{name}': '{shown}' is not {what}")


def _scalar(name: str, text: str, kind: Kind) -> Any:
    if kind is Kind.TEXT:
        return text
    if kind is Kind.BOOLEAN:
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise _invalid(name, text, "true or false")
        return lowered == "true"
    try:
        if kind is Kind.INTEGER:
            return int(text.strip())
        number = float(text.strip())
    except ValueError as exc:
        raise _invalid(name, text, "an integer" if kind is Kind.INTEGER else "a number") from exc
    if not math.isfinite(number):
        raise _invalid(name, text, "a finite number")
    # "3" stays the integer 3: the same request (and cache key) as a JSON client's.
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() \
        else number


def _json_value(name: str, text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _invalid(name, text, "JSON") from exc


async def _file_value(upload: UploadFile, declared: str | None) -> dict[str, str]:
    data = await upload.read()
    media_type = upload.content_type or declared or "application/octet-stream"
    return {"value": base64.b64encode(data).decode("ascii"), "encoding": "base64",
            "mediaType": media_type}


def _texts(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str)]


def _uploads(form: FormData, name: str) -> list[UploadFile]:
    """Chosen files; a file input left empty still posts one part with no name and no bytes."""
    return [v for v in form.getlist(name)
            if isinstance(v, UploadFile) and (v.filename or (v.size or 0) > 0)]


async def _read(target: Field, form: FormData) -> tuple[bool, Any]:
    """(present, value) of one field; absent optional fields are left out of the request."""
    name = target.name
    texts = _texts(form, name)
    text = texts[-1] if texts else ""
    if target.kind is Kind.FILE:
        files = [await _file_value(u, target.accept) for u in _uploads(form, name)]
        if not files:
            return False, None
        return True, files if target.multiple else files[0]
    if target.kind is Kind.BOOLEAN:
        return bool(texts), CHECKED in texts
    if target.kind is Kind.MULTISELECT:
        chosen = [_json_value(name, t) for t in texts if t]
        return bool(chosen) or target.required, chosen
    if target.kind is Kind.LINES:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        values = [_scalar(name, line, target.item_kind or Kind.TEXT) for line in lines]
        return bool(values) or target.required, values
    if target.kind is Kind.TEXT:
        return bool(text) or (target.required and bool(texts)), text
    if not text.strip():
        return False, None
    if target.kind is Kind.SELECT or target.kind is Kind.JSON:
        return True, _json_value(name, text)
    return True, _scalar(name, text, target.kind)


async def inputs_from_form(fields: Sequence[Field], form: FormData) -> dict[str, Any]:
    """The `inputs` of an execute request from a submitted form; fields the process does not
    declare are ignored, values that do not parse raise `InvalidParameterValue`."""
    inputs: dict[str, Any] = {}
    for target in fields:
        present, value = await _read(target, form)
        if present:
            inputs[target.name] = value
    return inputs
