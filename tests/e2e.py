"""Helpers of the end-to-end tests: exception checks, job polling, links and multipart parsing.

Every wait here polls the real API until a condition it observes holds, with a deadline;
nothing sleeps a fixed time in the hope that something has happened meanwhile.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from email.message import Message
from email.parser import BytesParser
from typing import Any

import httpx

from tests.ogc import validate
from tests.support import wait_for

OGC_EXCEPTIONS = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
REL_CONFORMANCE = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
REL_PROCESSES = "http://www.opengis.net/def/rel/ogc/1.0/processes"
REL_EXECUTE = "http://www.opengis.net/def/rel/ogc/1.0/execute"
REL_JOB_LIST = "http://www.opengis.net/def/rel/ogc/1.0/job-list"
REL_RESULTS = "http://www.opengis.net/def/rel/ogc/1.0/results"
TERMINAL = frozenset({"successful", "failed", "dismissed"})
#: `Prefer: respond-async` alone, for `tests.support.start_job`: a cached result may answer.
ASYNC = {"Prefer": "respond-async"}


def unique(prefix: str = "t") -> str:
    """A value no other request used, so no cached result answers for it."""
    return f"{prefix}-{uuid.uuid4().hex}"


def unique_int(span: int = 1_000_000) -> int:
    return uuid.uuid4().int % span


def show(response: httpx.Response) -> str:
    """The request and response, for assertion messages."""
    request = response.request
    body = response.content[:600]
    return (f"{request.method} {request.url} -> {response.status_code} "
            f"[{response.headers.get('content-type')}] {body!r}")


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def json_doc(response: httpx.Response, schema: str | None, status: int = 200) -> Any:
    """The JSON body of a response with this status, valid against the OGC schema."""
    assert response.status_code == status, show(response)
    assert media_type(response) == "application/json", show(response)
    doc = response.json()
    if schema is not None:
        validate(doc, schema)
    return doc


def assert_exception(
    response: httpx.Response, status: int, kind: str | None = None,
    mentions: Iterable[str] = (),
) -> dict[str, Any]:
    """An RFC 7807 / exception.yaml document with this status (and OGC type, when given)."""
    assert response.status_code == status, show(response)
    assert media_type(response) in ("application/problem+json", "application/json"), \
        show(response)
    doc = validate(response.json(), "exception")
    if kind is not None:
        assert doc["type"] == OGC_EXCEPTIONS + kind, show(response)
    if "status" in doc:
        assert doc["status"] == status, show(response)
    for word in mentions:
        assert word in doc.get("detail", ""), f"detail does not mention {word!r}: {show(response)}"
    return doc


def links_by_rel(doc: dict[str, Any], rel: str) -> list[dict[str, Any]]:
    return [link for link in doc.get("links", []) if link.get("rel") == rel]


def one_link(doc: dict[str, Any], rel: str) -> dict[str, Any]:
    found = links_by_rel(doc, rel)
    assert len(found) == 1, f"expected one link rel={rel!r}, got {found} in {doc.get('links')}"
    return found[0]


def poll_status(
    client: httpx.Client, url: str, until: Callable[[dict[str, Any]], bool], *,
    timeout: float, what: str, every: float = 0.02,
) -> dict[str, Any]:
    """GET the job status at `url` until `until(statusInfo)` holds; every answer is checked
    against statusInfo.yaml. Fails after `timeout` seconds with the last status seen."""
    last: list[dict[str, Any]] = []

    def check() -> dict[str, Any] | None:
        doc = json_doc(client.get(url), "statusInfo")
        last[:] = [doc]
        return doc if until(doc) else None

    try:
        found: dict[str, Any] = wait_for(check, timeout, what, every)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last: {last[0] if last else None}") from exc
    return found


def wait_finished(client: httpx.Client, url: str, timeout: float = 20) -> dict[str, Any]:
    return poll_status(client, url, lambda d: d["status"] in TERMINAL, timeout=timeout,
                       what=f"{url} to finish")


def wait_status(client: httpx.Client, url: str, status: str, timeout: float = 20
                ) -> dict[str, Any]:
    """Poll until `status`; a job that ends in another terminal state fails at once."""
    def reached(doc: dict[str, Any]) -> bool:
        if doc["status"] != status and doc["status"] in TERMINAL:
            raise AssertionError(f"job ended {doc['status']} while waiting for {status}: {doc}")
        return bool(doc["status"] == status)

    return poll_status(client, url, reached, timeout=timeout, what=f"{url} to be {status}")


def parse_link_header(value: str) -> list[dict[str, str]]:
    """RFC 8288 Link header values as dicts of `href` and the link parameters."""
    links = []
    for match in re.finditer(r'<([^>]*)>((?:\s*;\s*[^;,=\s]+\s*=\s*(?:"[^"]*"|[^;,\s]*))*)',
                             value):
        link = {"href": match.group(1)}
        for name, quoted, bare in re.findall(r';\s*([^;,=\s]+)\s*=\s*(?:"([^"]*)"|([^;,\s]*))',
                                             match.group(2)):
            link[name.lower()] = quoted or bare
        links.append(link)
    return links


def response_links(response: httpx.Response) -> list[dict[str, str]]:
    return [link for value in response.headers.get_list("link")
            for link in parse_link_header(value)]


def multipart_parts(response: httpx.Response) -> list[Message]:
    """The parts of a multipart/related body (RFC 2387), parsed by the email package."""
    content_type = response.headers.get("content-type", "")
    head = f"MIME-Version: 1.0\r\nContent-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser().parsebytes(head + response.content)
    assert message.is_multipart(), f"not a multipart body: {show(response)}"
    parts = message.get_payload()
    assert isinstance(parts, list)
    return parts


def part_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def follow_pages(client: httpx.Client, url: str, schema: str, member: str,
                 limit: int) -> list[list[dict[str, Any]]]:
    """Every page from `url` on, by `next` links: each page is schema-checked, holds at most
    `limit` items, has exactly one `next` while more follow and a `prev` after the first."""
    pages: list[list[dict[str, Any]]] = []
    while True:
        doc = json_doc(client.get(url), schema)
        items = doc[member]
        assert len(items) <= limit, items
        if pages:
            one_link(doc, "prev")
        pages.append(items)
        nexts = links_by_rel(doc, "next")
        if not nexts:
            return pages
        assert len(nexts) == 1, doc["links"]
        url = nexts[0]["href"]
        assert len(pages) < 10_000, "next links never run out"
