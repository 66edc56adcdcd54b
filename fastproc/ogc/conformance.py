"""Conformance classes of OGC API - Processes - Part 1: Core 1.0 that fastproc implements."""

from __future__ import annotations

_BASE = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf"

CORE = f"{_BASE}/core"
JSON = f"{_BASE}/json"
OAS30 = f"{_BASE}/oas30"
PROCESS_DESCRIPTION = f"{_BASE}/ogc-process-description"
JOB_LIST = f"{_BASE}/job-list"
DISMISS = f"{_BASE}/dismiss"
HTML = f"{_BASE}/html"
CALLBACK = f"{_BASE}/callback"

#: What /conformance lists: exactly the classes that are implemented end to end.
IMPLEMENTED: tuple[str, ...] = (
    CORE, JSON, HTML, OAS30, PROCESS_DESCRIPTION, JOB_LIST, DISMISS, CALLBACK,
)
