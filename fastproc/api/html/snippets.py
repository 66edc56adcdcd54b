"""The request a process page offers to copy: the same execution as curl and as Python with
fastproc's client, with an example value for each required input.

A reader learns the request's shape from something that runs as it is: the example values
follow each input's schema (its default, else the first of an enum or a value of its type
within its bounds), so the server accepts them unless the process asks for more than a
schema can say.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from typing import Any

from fastproc.ogc.content import is_binary
from fastproc.ogc.models import JobControlOption, ProcessDescription

#: The bytes a binary input's example carries (as base64).
EXAMPLE_BYTES = b"hello"
_BBOX = {"bbox": [0, 0, 1, 1]}


@dataclass(frozen=True, slots=True)
class Snippets:
    curl: str
    python: str


def example_inputs(description: ProcessDescription) -> dict[str, Any]:
    """An example value for each required input (the optional ones keep their defaults)."""
    return {name: example_value(item.schema_) for name, item in description.inputs.items()
            if item.minOccurs > 0}


def example_value(schema: dict[str, Any]) -> Any:
    """A value valid against `schema` for the common shapes of process inputs."""
    if "default" in schema:
        return schema["default"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("oneOf", "anyOf"):
        if schema.get(key):
            return example_value(schema[key][0])
    members = [schema, *schema.get("allOf", [])]
    if any("bbox" in m.get("properties", {}) or m.get("format") == "ogc-bbox" for m in members):
        return dict(_BBOX)
    kind = schema.get("type")
    if kind == "string":
        if is_binary(schema) or schema.get("contentEncoding"):
            return base64.b64encode(EXAMPLE_BYTES).decode()
        return "text"
    if kind in ("integer", "number"):
        return _number(schema, 1 if kind == "integer" else 1.5)
    if kind == "boolean":
        return True
    if kind == "array":
        items = schema.get("items")
        item = example_value(items) if isinstance(items, dict) else "text"
        return [item] * max(1, int(schema.get("minItems", 1)))
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example_value(properties.get(name, {}))
                for name in schema.get("required", [])}
    return "text"


def _number(schema: dict[str, Any], usual: float) -> float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value = usual if low is None else max(usual, low + (1 if "exclusiveMinimum" in schema else 0))
    if high is not None and value > high:
        value = high if "exclusiveMaximum" not in schema else (low + high) / 2
    return int(value) if isinstance(usual, int) and float(value).is_integer() else value


def request_snippets(description: ProcessDescription, base: str) -> Snippets:
    """curl and Python for executing the process at `base` with example inputs."""
    inputs = example_inputs(description)
    process_id = description.id
    is_async = JobControlOption.SYNC not in description.jobControlOptions
    body = json.dumps({"inputs": inputs, "response": "document"}, ensure_ascii=False)
    url = f"{base}/processes/{process_id}/execution"
    prefer = " -H 'Prefer: respond-async'" if is_async else ""
    curl = (f"curl -s -X POST {shlex.quote(url)} -H 'Content-Type: application/json'{prefer} "
            f"\\\n  -d {shlex.quote(body)}")
    python = "\n".join([
        "# pip install 'fastproc[client]'",
        "from fastproc.client import Answer, OGCClient, Watch, follow",
        "",
        f"with OGCClient({base!r}) as ogc:",
        f"    outcome = ogc.execute({process_id!r}, {inputs!r}, prefer_async={is_async},",
        "                          wait=600)",
        "    if not isinstance(outcome, Answer):  # a job: follow it to its end",
        "        *_, last = follow(ogc, outcome, Watch())",
        "        outcome = ogc.results(last.jobID)",
        "    print(outcome.content.decode())",
    ])
    return Snippets(curl, python)
