"""Conformance classes fastproc implements: OGC API - Processes - Part 1: Core 1.0, and the
nested processes of Part 3 (workflows; its requirement classes are drafts, version 0.0) and
the job management of Part 4 (draft 24-051)."""

from __future__ import annotations

_BASE = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf"
_PART3 = "http://www.opengis.net/spec/ogcapi-processes-3/0.0/conf"
_PART4 = "http://www.opengis.net/spec/ogcapi-processes-4/1.0/conf"

CORE = f"{_BASE}/core"
JSON = f"{_BASE}/json"
OAS30 = f"{_BASE}/oas30"
PROCESS_DESCRIPTION = f"{_BASE}/ogc-process-description"
JOB_LIST = f"{_BASE}/job-list"
DISMISS = f"{_BASE}/dismiss"
HTML = f"{_BASE}/html"
CALLBACK = f"{_BASE}/callback"
#: An input may be an execution request of a process of this server (Part 3).
NESTED_PROCESSES = f"{_PART3}/nested-processes"
#: ... or of a process of another OGC API - Processes server (`FASTPROC_WORKFLOW_REMOTE`).
REMOTE_CORE_PROCESSES = f"{_PART3}/remote-core-processes"

#: Part 4 (draft 24-051): jobs created, updated and started (`POST /jobs`...).
JOB_MANAGEMENT = f"{_PART4}/job-management"
#: ... whose definitions are Part 3 execute requests (workflows).
JOB_MANAGEMENT_OGCAPI_PROCESSES = f"{_PART4}/ogcapi-processes"
#: ... and a job's inputs and W3C PROV provenance (`GET /jobs/{id}/inputs`, `/prov`).
PROVENANCE = f"{_PART4}/provenance"

#: What /conformance lists: exactly the classes that are implemented end to end.
IMPLEMENTED: tuple[str, ...] = (
    CORE, JSON, HTML, OAS30, PROCESS_DESCRIPTION, JOB_LIST, DISMISS, CALLBACK,
    NESTED_PROCESSES, REMOTE_CORE_PROCESSES, JOB_MANAGEMENT, JOB_MANAGEMENT_OGCAPI_PROCESSES,
    PROVENANCE,
)


def declared(*, remote_processes: bool) -> list[str]:
    """The classes this server declares: remote processes only while they are on."""
    return [c for c in IMPLEMENTED if remote_processes or c != REMOTE_CORE_PROCESSES]
