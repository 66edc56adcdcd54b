"""What a worker records of a run for its job's provenance (`GET /jobs/{id}/prov`): which
worker ran which code, what the references fetched, a fan-out's parts and each nested
process of a workflow. Facts only the run knows: afterwards nobody can tell.

The facts of a job's start with its inputs (`start_facts`) go into its record with the step
that ends the job, in the same Lua call (a fan-out's, whose end is another task's, are
written at its split);
a merge's parts and each nested process, once it has stored its value, are one write each
(`JobService.record_provenance`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastproc.authoring.process import BaseProcess
from fastproc.store.provenance_log import json_digest
from fastproc.store.record import now_iso
from fastproc.worker.fetch import Fetched
from fastproc.worker.runtime import Runtime
from fastproc.workflows.tree import Node


@cache
def fastproc_version() -> str:
    try:
        return version("fastproc")
    except PackageNotFoundError:  # run from a source tree
        return "unknown"


@cache
def worker_identity() -> dict[str, Any]:
    """The worker as a person would find it: its host and process id."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "fastproc": fastproc_version()}


def process_identity(proc: BaseProcess) -> dict[str, Any]:
    """The code that ran: the process's id, version and the module it was written in."""
    fn = getattr(proc, "fn", None)
    module = getattr(fn, "__module__", None) or type(proc).__module__
    return {"id": proc.id, "version": proc.description.version, "module": module}


def start_facts(proc: BaseProcess, fetched: Sequence[Fetched]) -> dict[str, Any]:
    """Who runs the job, which code, and what its references fetched."""
    return {"worker": worker_identity(), "process": process_identity(proc),
            "fetched": [f.document() for f in fetched]}


async def record_start(rt: Runtime, job_id: str, facts: dict[str, Any]) -> None:
    """The start's facts written now (a fan-out job: its end is another task's)."""
    await rt.jobs.record_provenance(job_id, facts, running_ttl=rt.record_ttl)


async def record_parts(rt: Runtime, job_id: str, results: Sequence[tuple[str, Any]]) -> None:
    """A fan-out's parts as the merge got them: their keys and their results' digests."""
    await rt.jobs.record_provenance(job_id, {"parts": [
        {"key": key, "sha256": json_digest(result)} for key, result in sorted(results)]},
        running_ttl=rt.record_ttl)


async def record_node(rt: Runtime, job_id: str, node: Node, started: str | None,
                      value: Any) -> None:
    """A nested process once its value is stored (its parent's input)."""
    proc = rt.registry.get(node.process_id)
    facts: dict[str, Any] = {
        "id": node.id, "path": node.path, "parent": node.parent,
        "process": process_identity(proc) if proc is not None else {"id": node.process_id},
        "started": started, "ended": now_iso(), "output": node.output,
        "sha256": json_digest(value)}
    if node.remote is not None:
        facts["remote"] = node.remote
    else:
        facts["worker"] = worker_identity()
    await rt.jobs.record_provenance(job_id, {f"node:{node.id}": facts},
                                    running_ttl=rt.record_ttl)
