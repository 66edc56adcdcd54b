"""Rendering a stored result document as the execute request asked for it (OGC 1.0 7.11):
`document` (JSON), `raw` (the bytes of one output, multipart for several) and outputs by
`value` or by `reference` (links to `/jobs/{id}/results/{output}`)."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response

from fastproc.api.responses import JSONResponse
from fastproc.jobs.results import StoredOutput, decode_results, document_value, output_bytes
from fastproc.ogc import media
from fastproc.ogc.models import ResponseMode, TransmissionMode


def _reference(base: str, job_id: str, name: str, stored: StoredOutput) -> dict[str, str]:
    media_type = stored.get("mediaType") or (
        "text/plain" if isinstance(stored.get("value"), str) else media.JSON)
    return {"href": f"{base}/jobs/{job_id}/results/{name}", "rel": media.REL_RESULTS,
            "type": media_type, "title": name}


def _requested(request: dict[str, Any], stored: dict[str, StoredOutput]) -> dict[str, str]:
    """Output id -> transmission mode; no `outputs` member means every output by value."""
    outputs = request.get("outputs")
    if not outputs:
        return dict.fromkeys(stored, TransmissionMode.VALUE.value)
    return {name: (spec or {}).get("transmissionMode", "value") for name, spec in outputs.items()
            if name in stored}


def render_results(request: dict[str, Any], blob: bytes, base: str, job_id: str) -> Response:
    stored = decode_results(blob)
    wanted = _requested(request, stored)
    if request.get("response", ResponseMode.RAW.value) == ResponseMode.DOCUMENT.value:
        doc = {
            name: _reference(base, job_id, name, stored[name]) if mode == "reference"
            else document_value(stored[name])
            for name, mode in wanted.items()
        }
        return JSONResponse(doc)
    if all(mode == "reference" for mode in wanted.values()):
        links = [_link_header(_reference(base, job_id, n, stored[n])) for n in wanted]
        return Response(status_code=204, headers={"Link": ", ".join(links)})
    if len(wanted) == 1:
        data, media_type = output_bytes(stored[next(iter(wanted))])
        return Response(data, media_type=media_type)
    return _multipart(wanted, stored, base, job_id)


def _link_header(ref: dict[str, str]) -> str:
    return f'<{ref["href"]}>; rel="{ref["rel"]}"; type="{ref["type"]}"; title="{ref["title"]}"'


def _multipart(wanted: dict[str, str], stored: dict[str, StoredOutput], base: str,
               job_id: str) -> Response:
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, mode in wanted.items():
        if mode == "reference":
            ref = _reference(base, job_id, name, stored[name])
            head = f"Content-ID: <{name}>\r\nContent-Type: {ref['type']}\r\n" \
                   f"Content-Location: {ref['href']}\r\n"
            data = b""
        else:
            data, media_type = output_bytes(stored[name])
            head = f"Content-ID: <{name}>\r\nContent-Type: {media_type}\r\n"
        chunks.append(f"--{boundary}\r\n{head}\r\n".encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return Response(b"".join(chunks),
                    media_type=f'{media.MULTIPART_RELATED}; boundary="{boundary}"')
