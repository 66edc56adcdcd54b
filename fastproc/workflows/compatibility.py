"""Whether a process output may feed a process input: a coarse reading of their schemas.

Full JSON Schema subsumption is undecidable in general and not what a workflow author needs:
what catches real mistakes is the kind of value (a number fed to a string input, an image
fed to a JSON input). So each schema is read as the set of JSON types it admits (with
`binary` for the bytes of a file, as `fastproc.ogc.content.is_binary` reads them), and an
output fits an input when every kind it may produce is one the input takes. A schema whose
kinds cannot be read admits anything.
"""

from __future__ import annotations

from typing import Any

from fastproc.ogc.content import is_binary, json_kind

_ALL = frozenset({"string", "number", "integer", "boolean", "array", "object", "null",
                  "binary"})


def kinds(schema: Any) -> frozenset[str] | None:
    """The kinds of value a schema admits, or None when it says nothing about them."""
    if not isinstance(schema, dict):
        return None
    if is_binary(schema):
        return frozenset({"binary"})
    declared = schema.get("type")
    if isinstance(declared, str):
        found = {declared}
        if schema.get("nullable"):
            found.add("null")
        return frozenset(found)
    if isinstance(declared, list):
        return frozenset(t for t in declared if isinstance(t, str))
    for combinator in ("oneOf", "anyOf"):
        branches = schema.get(combinator)
        if isinstance(branches, list) and branches:
            union: set[str] = set()
            for branch in branches:
                sub = kinds(branch)
                if sub is None:
                    return None
                union |= sub
            return frozenset(union)
    branches = schema.get("allOf")
    if isinstance(branches, list):
        for branch in branches:
            sub = kinds(branch)
            if sub is not None:
                return sub
    if "enum" in schema and isinstance(schema["enum"], list):
        return frozenset(json_kind(v) for v in schema["enum"])
    return None


def compatible(output_schema: Any, input_schema: Any) -> bool:
    """Whether every kind of value the output may produce is one the input takes.

    An output that may also be null (a mean of no numbers) fits an input that takes its
    other kinds: refusing every such workflow would refuse the useful ones, and a null that
    does come is refused by the input's validation when the parent runs.
    """
    produced = kinds(output_schema)
    taken = kinds(input_schema)
    if produced is None or taken is None:
        return True
    if len(produced) > 1:
        produced = produced - {"null"}
    accepted = set(taken)
    if "number" in accepted:
        accepted.add("integer")  # every integer is a number
    return produced <= accepted


def describe_types(schema: Any) -> str:
    """The kinds of a schema for an error message: 'integer or string', 'any value'."""
    found = kinds(schema)
    if found is None or found == _ALL:
        return "any value"
    return " or ".join(sorted(found))
