"""Size limits of execute requests, checked on the parsed JSON before any model or schema
sees it, so a hostile body costs one cheap walk: how many inputs and outputs, how long any
array, object or string, how deep the nesting — in every member of the body, `outputs` and
`subscriber` included, not only `inputs`.

Each refusal names the setting that bounds it, so a client knows which limit it hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastproc.ogc.exceptions import InvalidParameterValue

#: Members of an execute request that map a process's input or output ids to values: their
#: size is bounded by `max_inputs`, not by the (much larger) `max_array_items`.
_ID_MAPS = {"inputs": "input", "outputs": "output"}


@dataclass(frozen=True, slots=True)
class Limits:
    max_inputs: int
    max_array_items: int
    max_string_bytes: int
    max_depth: int

    def check_request(self, body: dict[str, Any]) -> None:
        """Bound a whole execute request. Depth counts from each member's value (an input's
        value, the `subscriber` object), as `check` does, so both agree on an input."""
        self._check_size(body, "the request")
        for member, value in body.items():
            self._check_string(member, "the request")
            kind = _ID_MAPS.get(member)
            if kind is not None and isinstance(value, dict):
                self._check_ids(value, kind)
            else:
                self._walk(value, f"'{member}'")

    def check(self, inputs: dict[str, Any]) -> None:
        """Bound the `inputs` member alone (what `run_process` is given)."""
        self._check_ids(inputs, "input")

    def _check_ids(self, entries: dict[str, Any], kind: str) -> None:
        if len(entries) > self.max_inputs:
            raise InvalidParameterValue(
                f"{len(entries)} {kind}s is more than the {self.max_inputs} allowed "
                "(FASTPROC_MAX_INPUTS)")
        for name, value in entries.items():
            where = f"{kind} '{name[:64]}'"
            self._check_string(name, where)
            self._walk(value, where)

    def _walk(self, value: Any, where: str) -> None:
        """Visit every value below `value` with an explicit stack: no recursion, whatever
        the depth the JSON parser let through."""
        pending: list[tuple[Any, int]] = [(value, 1)]
        while pending:
            item, depth = pending.pop()
            if isinstance(item, str):
                self._check_string(item, where)
                continue
            if not isinstance(item, (dict, list)):
                continue
            if depth >= self.max_depth:
                raise InvalidParameterValue(
                    f"{where} nests deeper than {self.max_depth} levels "
                    "(FASTPROC_MAX_JSON_DEPTH)")
            self._check_size(item, where)
            if isinstance(item, dict):
                for key, member in item.items():
                    self._check_string(key, where)
                    pending.append((member, depth + 1))
            else:
                pending.extend((member, depth + 1) for member in item)

    def _check_size(self, item: dict[str, Any] | list[Any], where: str) -> None:
        if len(item) > self.max_array_items:
            what = "an object" if isinstance(item, dict) else "an array"
            unit = "members" if isinstance(item, dict) else "items"
            raise InvalidParameterValue(
                f"{what} in {where} has more than {self.max_array_items} {unit} "
                "(FASTPROC_MAX_ARRAY_ITEMS)")

    def _check_string(self, value: str, where: str) -> None:
        # UTF-8 takes at most 4 bytes a character: measure only when it could matter.
        if len(value) * 4 > self.max_string_bytes and \
                len(value.encode()) > self.max_string_bytes:
            raise InvalidParameterValue(
                f"a string in {where} is over {self.max_string_bytes} bytes "
                "(FASTPROC_MAX_STRING_BYTES)")
