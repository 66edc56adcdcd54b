"""Workflows (OGC API - Processes - Part 3, nested processes) as the use case checks them:
the whole tree is validated against the catalogue before anything runs (an error names the
path of the offending node, `inputs.a.inputs.b`), then ONE job runs it
(`fastproc.jobs.flow`)."""

from __future__ import annotations

from typing import Any

from fastproc.net import AddressNotAllowed, check_url_syntax
from fastproc.ogc.exceptions import InvalidParameterValue
from fastproc.ogc.inputs import references
from fastproc.ogc.models import ExecuteRequest
from fastproc.settings import Settings
from fastproc.store.catalogue import Catalogue, CataloguedProcess
from fastproc.workflows.tree import ROOT, Node, WorkflowLimits, parse_workflow, validate_workflow


async def validated_tree(settings: Settings, catalogue: Catalogue, proc: CataloguedProcess,
                         body: ExecuteRequest, base: str) -> list[Node]:
    """The nodes of the request, each process found in the catalogue, with its queue."""
    limits = WorkflowLimits(settings.workflow_max_depth, settings.workflow_max_nodes,
                            settings.workflow_remote)
    outputs = {k: v.dump() for k, v in body.outputs.items()} if body.outputs else None
    nodes = parse_workflow(proc.description.id, body.inputs, outputs, base_url=base,
                           limits=limits)
    served = {p.description.id: p for p in await catalogue.all()}
    served[proc.description.id] = proc

    def describe(process_id: str) -> tuple[Any, Any] | None:
        found = served.get(process_id)
        return (found.description, found.validator) if found else None

    validate_workflow(nodes, describe)
    for node in nodes:
        # A remote process is called by a worker of its parent's queue.
        node.queue = (served[node.process_id].entry.queue if node.remote is None
                      else nodes[node.parent or ROOT].queue)
        _check_node_addresses(node, settings)
    return nodes


def _check_node_addresses(node: Node, settings: Settings) -> None:
    """A nested node's references and its remote server must be addresses this server may
    contact (the root's are checked with the request's)."""
    if node.id == ROOT:
        return
    targets = [(f"input '{name}'", href) for name, href in references(node.inputs)]
    if node.remote is not None:
        targets.append(("its server", node.remote))
    for what, url in targets:
        try:
            check_url_syntax(url, settings)
        except AddressNotAllowed as exc:
            raise InvalidParameterValue(f"{node.path}: {what}: {url} is refused: {exc}") from exc
