"""Input validation against a process description, before anything is enqueued.

Validation needs only the description (what the catalogue holds), never the process's code,
so an API replica checks inputs of processes it cannot import.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from fastproc.ogc.exceptions import InvalidParameterValue
from fastproc.ogc.models import InputDescription, ProcessDescription
from fastproc.ogc.schema import to_jsonschema

_QUALIFIED_KEYS = frozenset({"value", "mediaType", "encoding", "schema"})


def is_reference(value: Any) -> bool:
    return isinstance(value, dict) and "href" in value and set(value) <= {
        "href", "rel", "type", "hreflang", "title"
    }


def is_qualified(value: Any) -> bool:
    return isinstance(value, dict) and "value" in value and set(value) <= _QUALIFIED_KEYS


def unwrap(value: Any) -> Any:
    """The plain value of an input occurrence (a qualified value's `value`)."""
    return value["value"] if is_qualified(value) else value


class _InputCheck:
    def __init__(self, name: str, description: InputDescription) -> None:
        self.name = name
        self.min_occurs = description.minOccurs
        self.max_occurs: float = (
            float("inf") if description.maxOccurs == "unbounded" else description.maxOccurs
        )
        schema = to_jsonschema(description.schema_)
        self.schema_is_array = schema.get("type") == "array"
        self.validator = Draft202012Validator(schema)

    def check(self, value: Any) -> None:
        occurrences = [value]
        if self.max_occurs > 1 and isinstance(value, list) and not self.schema_is_array:
            occurrences = value
            if not self.min_occurs <= len(value) <= self.max_occurs:
                raise InvalidParameterValue(
                    f"input '{self.name}' takes {self.min_occurs} to {self.max_occurs} values, "
                    f"got {len(value)}"
                )
        for occurrence in occurrences:
            self.check_occurrence(occurrence)

    def check_occurrence(self, value: Any) -> None:
        """Validate one occurrence; a reference is checked by the worker once fetched."""
        if is_reference(value):
            return
        if self.validator.is_valid(value):
            return
        plain = unwrap(value)
        if plain is not value and self.validator.is_valid(plain):
            return
        error = best_match(self.validator.iter_errors(plain))
        where = "".join(f"[{p!r}]" for p in error.absolute_path) if error else ""
        reason = error.message if error else "does not match its schema"
        raise InvalidParameterValue(f"input '{self.name}'{where}: {reason}")


def references(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    """(input id, href) of every occurrence given by reference."""
    found: list[tuple[str, str]] = []
    for name, value in inputs.items():
        for occurrence in value if isinstance(value, list) else [value]:
            if is_reference(occurrence):
                found.append((name, str(occurrence["href"])))
    return found


class InputValidator:
    """Compiled once per process description; `validate` raises `InvalidParameterValue`."""

    def __init__(self, description: ProcessDescription) -> None:
        self.process_id = description.id
        self.checks = {name: _InputCheck(name, d) for name, d in description.inputs.items()}

    def check_wrapped(self, members: Iterable[str]) -> None:
        """Refuse a body whose top level holds this process's inputs (`{"a": 1}` rather than
        `{"inputs": {"a": 1}}`): validating its empty `inputs` would blame a missing input."""
        misplaced = sorted(set(members) & set(self.checks))
        if misplaced:
            names = ", ".join(f"'{name}'" for name in misplaced)
            raise InvalidParameterValue(
                f"{names} at the top of the request "
                f"{'is an input' if len(misplaced) == 1 else 'are inputs'} of process "
                f"'{self.process_id}': inputs go under \"inputs\": {{…}}")

    def validate(self, inputs: dict[str, Any]) -> None:
        unknown = sorted(set(inputs) - set(self.checks))
        if unknown:
            known = ", ".join(sorted(self.checks)) or "none"
            raise InvalidParameterValue(
                f"unknown input '{unknown[0]}' for process '{self.process_id}' (inputs: {known})"
            )
        for name, check in self.checks.items():
            if name in inputs:
                check.check(inputs[name])
            elif check.min_occurs > 0:
                raise InvalidParameterValue(f"missing required input '{name}'")
