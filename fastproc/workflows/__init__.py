"""Workflows: OGC API - Processes - Part 3 nested processes, run on the counter join."""

#: What the OpenAPI document says of the nested form, on the execute operation.
NESTED_FORM = (
    "An input value may itself be an execution request, `{\"process\": \"<process URI>\", "
    "\"inputs\": {...}, \"outputs\": {...}}` (OGC API - Processes - Part 3, nested "
    "processes), nested to any depth: the whole tree is validated first (a 400 names the "
    "path of the offending node, `inputs.a.inputs.b`) and runs as one job, each nested "
    "process as its own task; a nested process's selected (or first) output becomes the "
    "input's value. A process URI is resolved against its parent's; a process of another "
    "server is executed there.")
