"""Size limits of execute requests, checked before validation so a hostile body costs
little: how many inputs, how long an array or string, how deep the nesting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastproc.ogc.exceptions import InvalidParameterValue


@dataclass(frozen=True, slots=True)
class Limits:
    max_inputs: int
    max_array_items: int
    max_string_bytes: int
    max_depth: int

    def check(self, inputs: dict[str, Any]) -> None:
        if len(inputs) > self.max_inputs:
            raise InvalidParameterValue(
                f"{len(inputs)} inputs is more than the {self.max_inputs} allowed")
        for name, value in inputs.items():
            self._walk(value, name, 1)

    def _walk(self, value: Any, where: str, depth: int) -> None:
        if depth > self.max_depth:
            raise InvalidParameterValue(
                f"input '{where.split('[')[0]}' nests deeper than {self.max_depth} levels")
        if isinstance(value, str):
            # UTF-8 takes at most 4 bytes a character: measure only when it could matter.
            if len(value) * 4 > self.max_string_bytes and \
                    len(value.encode()) > self.max_string_bytes:
                raise InvalidParameterValue(
                    f"a string in input '{where}' is over {self.max_string_bytes} bytes")
        elif isinstance(value, list):
            if len(value) > self.max_array_items:
                raise InvalidParameterValue(
                    f"an array in input '{where}' has more than {self.max_array_items} items")
            for item in value:
                self._walk(item, where, depth + 1)
        elif isinstance(value, dict):
            for item in value.values():
                self._walk(item, where, depth + 1)
