"""Documents built from records: statusInfo, links, paging."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request

from fastproc.api.responses import link
from fastproc.ogc import media
from fastproc.ogc.models import StatusCode
from fastproc.store.record import JobRecord


def status_info(record: JobRecord, base: str) -> dict[str, Any]:
    href = f"{base}/jobs/{record.job_id}"
    links = [
        link(href, media.REL_SELF, title="job status"),
        link(f"{base}/processes/{record.process_id}", media.REL_UP, title="process"),
    ]
    if record.status is StatusCode.SUCCESSFUL:
        links.append(link(f"{href}/results", media.REL_RESULTS, title="results"))
    elif record.status is StatusCode.FAILED:
        links.append(link(f"{href}/results", media.REL_EXCEPTIONS, title="exception"))
    else:
        links.append(link(href, media.REL_MONITOR, title="monitor"))
    doc = record.status_document()
    progress = shown_progress(record)
    if progress is not None:
        doc["progress"] = progress
    doc["links"] = links
    return doc


def shown_progress(record: JobRecord) -> int | None:
    """The job's percentage as every client sees it (JSON, events, the page, the CLI): what
    the process reported, else for a running fan-out the share of its parts done, below 100
    since the merge is still to come."""
    if record.progress is not None:
        return record.progress
    parts = record.parts
    if parts is None or parts.total <= 0 or record.status.terminal:
        return None
    return min(99, parts.done * 100 // parts.total)


def paging_links(
    request: Request, base: str, path: str, *, offset: int, limit: int, more: bool
) -> list[dict[str, str]]:
    """self, next and prev links that keep every other query parameter."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset",
                                                                                 "limit")]

    def at(start: int) -> str:
        query = urlencode([*params, ("limit", str(limit)), ("offset", str(start))])
        return f"{base}{path}?{query}"

    links = [link(at(offset), media.REL_SELF)]
    if more:
        links.append(link(at(offset + limit), media.REL_NEXT))
    if offset > 0:
        links.append(link(at(max(0, offset - limit)), media.REL_PREV))
    return links
