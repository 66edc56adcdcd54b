"""Parsing and validating nested execution requests (Part 3) before anything runs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastproc.ogc.exceptions import InvalidParameterValue
from fastproc.ogc.inputs import InputValidator
from fastproc.ogc.models import InputDescription, OutputDescription, ProcessDescription
from fastproc.workflows.compatibility import compatible, kinds
from fastproc.workflows.tree import (
    WorkflowLimits,
    has_nested,
    is_nested,
    parse_workflow,
    validate_workflow,
)

BASE = "http://api.test"
LIMITS = WorkflowLimits(max_depth=10, max_nodes=100)


def _process(pid: str, inputs: dict[str, dict[str, Any]], outputs: dict[str, dict[str, Any]],
             optional: tuple[str, ...] = ()) -> ProcessDescription:
    return ProcessDescription(
        id=pid,
        inputs={n: InputDescription(schema=s, minOccurs=0 if n in optional else 1)
                for n, s in inputs.items()},
        outputs={n: OutputDescription(schema=s) for n, s in outputs.items()})


CATALOGUE = {
    p.id: (p, InputValidator(p)) for p in (
        _process("add", {"a": {"type": "number"}, "b": {"type": "number"}},
                 {"sum": {"type": "number"}}),
        _process("echo", {"value": {"type": "string"}}, {"value": {"type": "string"}}),
        _process("stats", {"numbers": {"type": "array", "items": {"type": "number"}}},
                 {"mean": {"type": "number"}, "count": {"type": "integer"}}),
        _process("png", {"width": {"type": "integer"}},
                 {"image": {"type": "string", "format": "binary",
                            "contentMediaType": "image/png"}}),
    )
}


def _tree(process_id: str, inputs: dict[str, Any],
          limits: WorkflowLimits = LIMITS) -> list[Any]:
    nodes = parse_workflow(process_id, inputs, None, base_url=BASE, limits=limits)
    validate_workflow(nodes, CATALOGUE.get)
    return nodes


def _nest(pid: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"process": f"{BASE}/processes/{pid}", "inputs": inputs, **extra}


def test_a_nested_request_becomes_a_child_node_whose_output_fills_the_parent_input() -> None:
    nodes = _tree("add", {"a": _nest("add", {"a": 1, "b": 2}), "b": 3})
    root, child = nodes
    assert (root.process_id, root.inputs, root.children) == ("add", {"a": None, "b": 3}, [1])
    assert (child.parent, child.slot.name, child.slot.index) == (0, "a", None)  # type: ignore[union-attr]
    assert (child.path, child.output, child.inputs) == ("inputs.a", "sum", {"a": 1, "b": 2})


def test_a_relative_process_uri_is_resolved_against_its_parent() -> None:
    nodes = _tree("add", {"a": {"process": "add", "inputs": {"a": 1, "b": 1}}, "b": 1})
    assert nodes[1].process_id == "add" and nodes[1].remote is None


def test_the_selected_output_feeds_the_parent_else_the_first() -> None:
    chosen = _tree("add", {"a": _nest("stats", {"numbers": [1, 2]}, outputs={"count": {}}),
                           "b": _nest("stats", {"numbers": [3]})})
    assert [n.output for n in chosen[1:]] == ["count", "mean"]


def test_occurrences_of_a_multi_valued_input_are_nodes_each() -> None:
    many = ProcessDescription(id="join", inputs={"parts": InputDescription(
        schema={"type": "string"}, maxOccurs="unbounded")},
        outputs={"text": OutputDescription(schema={"type": "string"})})
    catalogue = {**CATALOGUE, "join": (many, InputValidator(many))}
    nodes = parse_workflow("join", {"parts": ["x", _nest("echo", {"value": "y"}), "z"]}, None,
                           base_url=BASE, limits=LIMITS)
    validate_workflow(nodes, catalogue.get)
    assert nodes[0].inputs == {"parts": ["x", None, "z"]}
    assert nodes[1].path == "inputs.parts[1]" and nodes[1].slot.index == 1  # type: ignore[union-attr]


def test_nested_processes_may_give_the_items_of_one_array_input() -> None:
    nodes = _tree("stats", {"numbers": [_nest("add", {"a": 1, "b": 2}), 3]})
    assert nodes[0].inputs == {"numbers": [None, 3]}
    assert (nodes[1].slot.name, nodes[1].slot.index) == ("numbers", 0)  # type: ignore[union-attr]
    with pytest.raises(InvalidParameterValue, match=r"^inputs.numbers\[1\]: .*does not fit"):
        _tree("stats", {"numbers": [1, _nest("echo", {"value": "x"})]})


@pytest.mark.parametrize(("inputs", "path", "says"), [
    ({"a": _nest("nope", {}), "b": 1}, "inputs.a", "no process 'nope'"),
    ({"a": _nest("add", {"a": 1, "b": 2, "c": 3}), "b": 1}, "inputs.a", "unknown input 'c'"),
    ({"a": _nest("add", {"a": 1}), "b": 1}, "inputs.a", "missing required input 'b'"),
    ({"a": _nest("add", {"a": "x", "b": 1}), "b": 1}, "inputs.a", "input 'a'"),
    ({"a": _nest("echo", {"value": "x"}), "b": 1}, "inputs.a", "does not fit input 'a'"),
    ({"a": _nest("add", {"a": _nest("png", {"width": 1}), "b": 1}), "b": 1},
     "inputs.a.inputs.a", "binary"),
    ({"a": _nest("stats", {"numbers": [1]}, outputs={"median": {}}), "b": 1}, "inputs.a",
     "no output 'median'"),
    ({"a": {"process": "http://api.test/other/add", "inputs": {}}, "b": 1}, "inputs.a",
     "does not name a process"),
])
def test_a_bad_tree_is_refused_naming_the_path_to_the_node(
    inputs: dict[str, Any], path: str, says: str,
) -> None:
    with pytest.raises(InvalidParameterValue) as refused:
        _tree("add", inputs)
    assert str(refused.value).startswith(f"{path}: "), str(refused.value)
    assert says in str(refused.value)


@pytest.mark.parametrize(("nested", "says"), [
    ({"process": "file:///x/processes/add", "inputs": {}}, "neither a process of this server"),
    ({"process": "http://[::1/processes/add", "inputs": {}}, "is not a URI"),
    ({"process": "add", "inputs": [1, 2]}, "'inputs' must be an object"),
    ({"process": "add", "inputs": {"a": 1, "b": 1}, "outputs": 5}, "'outputs' must be an"),
    ({"process": "add", "inputs": {"a": 1, "b": 1}, "outputs": ["sum"]}, "must be an object"),
    ({"process": "../../x", "inputs": {}}, "does not name a process"),
])
def test_a_hostile_nested_request_is_refused_as_a_bad_parameter(
    nested: dict[str, Any], says: str,
) -> None:
    with pytest.raises(InvalidParameterValue, match=r"^inputs\.a: ") as refused:
        _tree("add", {"a": nested, "b": 1})
    assert says in str(refused.value)


def _chain(depth: int) -> dict[str, Any]:
    inputs: dict[str, Any] = {"a": 1, "b": 1}
    for _ in range(depth):
        inputs = {"a": _nest("add", inputs), "b": 1}
    return inputs


def test_depth_and_node_limits_bound_the_tree() -> None:
    assert len(_tree("add", _chain(10))) == 11
    with pytest.raises(InvalidParameterValue, match="FASTPROC_WORKFLOW_MAX_DEPTH"):
        _tree("add", _chain(11))
    with pytest.raises(InvalidParameterValue, match="FASTPROC_WORKFLOW_MAX_NODES"):
        _tree("add", _chain(5), WorkflowLimits(max_depth=10, max_nodes=4))


def test_remote_processes_are_nodes_of_their_server_unless_remote_is_off() -> None:
    remote = {"process": "http://other.test/api/processes/add", "inputs": {"a": 1, "b": 2}}
    nodes = _tree("add", {"a": remote, "b": 1})
    assert (nodes[1].remote, nodes[1].process_id) == ("http://other.test/api", "add")
    with pytest.raises(InvalidParameterValue, match="FASTPROC_WORKFLOW_REMOTE"):
        _tree("add", {"a": remote, "b": 1}, WorkflowLimits(10, 100, allow_remote=False))


def test_an_object_with_other_members_is_a_plain_value_not_a_nested_request() -> None:
    assert is_nested({"process": "add", "inputs": {}})
    assert not is_nested({"process": "add", "colour": "red"})
    assert not is_nested({"process": 3})
    assert has_nested({"x": [1, {"process": "add"}]}) and not has_nested({"x": [1, 2]})


def test_nodes_round_trip_as_json_data() -> None:
    nodes = _tree("add", _chain(3))
    from fastproc.workflows.tree import Node

    assert [Node.load(n.dump()) for n in nodes] == nodes


_SCHEMAS = st.sampled_from([
    {"type": "string"}, {"type": "number"}, {"type": "integer"}, {"type": "boolean"},
    {"type": "array"}, {"type": "object"}, {"type": "string", "format": "binary"},
    {"oneOf": [{"type": "string"}, {"type": "integer"}]}, {}, {"enum": [1, "a"]},
    {"type": "number", "nullable": True}, {"anyOf": [{"type": "null"}, {"type": "string"}]},
])


def test_an_output_that_may_be_null_fits_an_input_of_its_other_kinds() -> None:
    mean = {"anyOf": [{"type": "number"}, {"type": "null"}]}
    assert compatible(mean, {"type": "number"})
    assert not compatible(mean, {"type": "string"})
    assert not compatible({"type": "null"}, {"type": "number"})


@given(_SCHEMAS)
def test_every_schema_fits_itself_and_an_unconstrained_input(schema: dict[str, Any]) -> None:
    assert compatible(schema, schema)
    assert compatible(schema, {})


@given(_SCHEMAS, _SCHEMAS)
def test_fitting_means_every_produced_kind_is_taken(out: dict[str, Any],
                                                    into: dict[str, Any]) -> None:
    produced, taken = kinds(out), kinds(into)
    if produced is not None and taken is not None:
        widened = set(taken) | ({"integer"} if "number" in taken else set())
        maybe_null = set(produced) - {"null"} if len(produced) > 1 else set(produced)
        assert compatible(out, into) == (maybe_null <= widened)
