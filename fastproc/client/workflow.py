"""`fastproc run --workflow FILE`: a workflow (OGC API - Processes - Part 3 nested
processes) read from a JSON file, as the server takes it:

```json
{"process": "add",
 "inputs": {"a": {"process": "number_stats", "inputs": {"numbers": [1, 2, 3]},
                  "outputs": {"mean": {}}},
            "b": 10}}
```

`process` names the process the request is posted to (an id, or its URL on the server);
each nested `process` is resolved against its parent's URL by the server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fastproc.client.errors import InputError


@dataclass(frozen=True, slots=True)
class Workflow:
    process_id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None


def load_workflow(path: Path, process_id: str | None = None) -> Workflow:
    """The workflow in the file; `process_id` (given on the command line) wins over its
    `process` member."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the workflow {path}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("inputs", {}), dict):
        raise InputError(f"the workflow {path} is not an execute request "
                         '({"process": ..., "inputs": {...}})')
    named = process_id or doc.get("process")
    if not isinstance(named, str) or not named:
        raise InputError(f"the workflow {path} names no process: give it a \"process\" "
                         "member or a PROCESS_ID")
    outputs = doc.get("outputs")
    return Workflow(unquote(named.rstrip("/").rsplit("/processes/", 1)[-1]),
                    doc.get("inputs", {}), outputs if isinstance(outputs, dict) else None)
