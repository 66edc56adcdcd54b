"""A workflow (OGC API - Processes - Part 3, nested processes) as a flat list of nodes.

An input of an execute request may itself be an execution request,
`{"process": "<process URI>", "inputs": {...}, "outputs": {...}}`, nested to any depth. This
module turns such a request into nodes — each one process run, whose parent input waits for
it — and validates the whole tree before anything runs: every process exists, no unknown or
missing inputs, literal inputs fit their schemas, each nested output fits the schema of the
input it feeds, and the tree stays within the depth and node limits. Every error names the
path of the offending node (`inputs.a.inputs.b`).

Nodes are plain data (JSON-ready), so the tree is stored once and every node task reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from fastproc.ogc.exceptions import InvalidParameterValue
from fastproc.ogc.inputs import InputValidator
from fastproc.ogc.models import ProcessDescription
from fastproc.workflows.compatibility import compatible, describe_types

#: The node of the process the request was posted to (the job's own process).
ROOT = 0
#: Members of a nested execution request; an object with others is a plain object value.
_NESTED_MEMBERS = frozenset({"process", "inputs", "outputs"})


def is_nested(value: Any) -> bool:
    """Whether an input occurrence is a nested execution request (Part 3)."""
    return (isinstance(value, dict) and isinstance(value.get("process"), str)
            and set(value) <= _NESTED_MEMBERS)


def has_nested(inputs: dict[str, Any]) -> bool:
    """Whether any occurrence of these inputs is a nested execution request."""
    for value in inputs.values():
        for occurrence in value if isinstance(value, list) else [value]:
            if is_nested(occurrence):
                return True
    return False


@dataclass(slots=True)
class Slot:
    """Where a child's output goes in its parent: input `name`, occurrence `index` (None
    when the input was given as a single value)."""

    name: str
    index: int | None


@dataclass(slots=True)
class Node:
    """One process run of a workflow. Node 0 is the root (the process the request was
    posted to); a child's `slot` says which input of `parent` its output fills."""

    id: int
    path: str
    process_id: str
    #: Base URL of the remote OGC API server running it; None for a local process.
    remote: str | None
    inputs: dict[str, Any]
    parent: int | None = None
    slot: Slot | None = None
    #: The output of this node that feeds its parent (nested nodes only).
    output: str | None = None
    outputs: dict[str, Any] | None = None
    children: list[int] = field(default_factory=list)
    #: The arq queue of the workers serving the process (None: remote, or not yet known).
    queue: str | None = None

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    def outline(self) -> dict[str, Any]:
        """What a job's record keeps of the node, to show the tree after the job."""
        return {"id": self.id, "path": self.path, "process": self.process_id,
                "parent": self.parent, **({"remote": self.remote} if self.remote else {})}

    def filled(self, given: list[tuple[Slot, Any]]) -> dict[str, Any]:
        """The node's inputs with its children's output values in their slots."""
        inputs = {name: list(value) if isinstance(value, list) else value
                  for name, value in self.inputs.items()}
        for slot, value in given:
            if slot.index is None:
                inputs[slot.name] = value
            else:
                inputs[slot.name][slot.index] = value
        return inputs

    @classmethod
    def load(cls, data: dict[str, Any]) -> Node:
        slot = data.get("slot")
        return cls(**{**data, "slot": Slot(**slot) if slot else None})


@dataclass(frozen=True, slots=True)
class WorkflowLimits:
    max_depth: int
    max_nodes: int
    allow_remote: bool = True


#: A process description and its compiled validator, or None for an unknown process.
Describe = Callable[[str], tuple[ProcessDescription, InputValidator] | None]


def parse_workflow(
    process_id: str, inputs: dict[str, Any], outputs: dict[str, Any] | None, *,
    base_url: str, limits: WorkflowLimits,
) -> list[Node]:
    """The nodes of a request posted to `process_id`, root first, children after parents.

    A nested `process` URI is resolved against its parent's URI (Part 3
    /req/nested-processes/referenced-process), so `"echo"` inside a request to
    `{base}/processes/add` names `{base}/processes/echo`.
    """
    base = base_url.rstrip("/")
    nodes: list[Node] = []

    def add(pid: str, remote: str | None, given: dict[str, Any], path: str, depth: int,
            parent: int | None, slot: Slot | None, wanted: dict[str, Any] | None) -> int:
        if depth > limits.max_depth:
            raise _invalid(path, f"nests deeper than {limits.max_depth} levels "
                                 "(FASTPROC_WORKFLOW_MAX_DEPTH)")
        if len(nodes) >= limits.max_nodes:
            raise _invalid(path, f"the workflow has more than {limits.max_nodes} processes "
                                 "(FASTPROC_WORKFLOW_MAX_NODES)")
        if not isinstance(given, dict):
            raise _invalid(path, "'inputs' must be an object")
        if wanted is not None and not isinstance(wanted, dict):
            raise _invalid(path, "'outputs' must be an object")
        node = Node(len(nodes), path, pid, remote, {}, parent, slot, outputs=wanted)
        nodes.append(node)
        own_uri = f"{remote or base}/processes/{pid}"
        for name, value in given.items():
            many = isinstance(value, list)
            kept: list[Any] = []
            for index, occurrence in enumerate(value if many else [value]):
                if is_nested(occurrence):
                    where = f"{_join(path, 'inputs')}.{name}" + (f"[{index}]" if many else "")
                    child_remote, child_id = _resolve(occurrence["process"], own_uri, base,
                                                      where, limits)
                    child = add(child_id, child_remote, occurrence.get("inputs") or {}, where,
                                depth + 1, node.id, Slot(name, index if many else None),
                                occurrence.get("outputs"))
                    node.children.append(child)
                    kept.append(None)  # filled by the child's output when it has run
                else:
                    kept.append(occurrence)
            node.inputs[name] = kept if many else kept[0]
        return node.id

    add(process_id, None, inputs, "", 0, None, None, outputs)
    return nodes


def validate_workflow(nodes: list[Node], describe: Describe) -> None:
    """Check the whole tree against the catalogue before anything runs (see module doc).

    Remote nodes are checked by the server that runs them; their own literal inputs and
    the output they feed are checked when the worker calls them.
    """
    for node in nodes:
        if node.remote is not None:
            node.output = next(iter(node.outputs), None) if node.outputs else None
            continue
        found = describe(node.process_id)
        if found is None:
            raise _invalid(node.path, f"no process '{node.process_id}' on this server")
        description, validator = found
        _check_inputs(node, nodes, description, validator)
        if node.parent is not None:
            node.output = _selected_output(node, description)
    for node in nodes:
        if node.parent is None or node.remote is not None or node.slot is None:
            continue
        parent = nodes[node.parent]
        if parent.remote is not None:
            continue
        parent_found = describe(parent.process_id)
        child_found = describe(node.process_id)
        assert parent_found is not None and child_found is not None  # checked above
        wanted = parent_found[0].inputs[node.slot.name].schema_
        if node.slot.index is not None and _items_of_one_array(parent_found[1], node.slot.name):
            wanted = wanted.get("items", {})  # it gives one item of the array
        given = child_found[0].outputs[str(node.output)].schema_
        if not compatible(given, wanted):
            raise _invalid(node.path, (
                f"output '{node.output}' of process '{node.process_id}' "
                f"({describe_types(given)}) does not fit input '{node.slot.name}' of "
                f"'{parent.process_id}' ({describe_types(wanted)})"))


def _check_inputs(node: Node, nodes: list[Node], description: ProcessDescription,
                  validator: InputValidator) -> None:
    unknown = sorted(set(node.inputs) - set(description.inputs))
    if unknown:
        known = ", ".join(sorted(description.inputs)) or "none"
        raise _invalid(node.path, f"unknown input '{unknown[0]}' for process "
                                  f"'{node.process_id}' (inputs: {known})")
    nested = {slot.name for c in node.children if (slot := nodes[c].slot) is not None}
    for name, check in validator.checks.items():
        if name not in node.inputs:
            if check.min_occurs > 0:
                raise _invalid(node.path, f"missing required input '{name}' of process "
                                          f"'{node.process_id}'")
            continue
        value = node.inputs[name]
        try:
            if name not in nested:
                check.check(value)
            elif not (isinstance(value, list) and _items_of_one_array(validator, name)):
                occurrences = value if isinstance(value, list) else [value]
                for occurrence in occurrences:
                    if occurrence is not None:
                        check.check_occurrence(occurrence)
            # An array with nested items is checked whole when they have run.
        except InvalidParameterValue as exc:
            raise _invalid(node.path, str(exc)) from exc


def _items_of_one_array(validator: InputValidator, name: str) -> bool:
    """Whether a list given for input `name` is one array value (whose items nested
    processes may fill), rather than several occurrences of the input."""
    check = validator.checks[name]
    return check.schema_is_array or check.max_occurs <= 1


def _selected_output(node: Node, description: ProcessDescription) -> str:
    """The output that feeds the parent: the one `outputs` names, else the only or first
    one (Part 3 /req/nested-processes/process-execution)."""
    if not description.outputs:
        raise _invalid(node.path, f"process '{node.process_id}' has no output to pass on")
    if node.outputs:
        chosen = next(iter(node.outputs))
        if chosen not in description.outputs:
            known = ", ".join(description.outputs)
            raise _invalid(node.path, f"process '{node.process_id}' has no output "
                                      f"'{chosen}' (outputs: {known})")
        return chosen
    return next(iter(description.outputs))


def _resolve(uri: str, parent_uri: str, base: str, path: str,
             limits: WorkflowLimits) -> tuple[str | None, str]:
    """(remote server base or None, process id) of a nested `process` URI."""
    try:
        absolute = urljoin(parent_uri, uri)
        parts = urlsplit(absolute)
    except ValueError as exc:
        raise _invalid(path, f"'{uri}' is not a URI: {exc}") from exc
    server, marker, process_id = absolute.rpartition("/processes/")
    if not marker or not process_id or "/" in process_id or parts.query or parts.fragment:
        raise _invalid(path, f"'{uri}' does not name a process (…/processes/{{processID}})")
    if server == base or server.rstrip("/") == base:
        return None, process_id
    if not limits.allow_remote:
        raise _invalid(path, f"'{uri}' is a process of another server, and remote processes "
                             "are off (FASTPROC_WORKFLOW_REMOTE)")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(path, f"'{uri}' is neither a process of this server nor an http(s) "
                             "URL of another one")
    return server, process_id


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _invalid(path: str, message: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"{path}: {message}" if path else message)
