"""Rendering a stored result document as the execute request asked for it (OGC 1.0 7.11):
`document` (JSON), `raw` (the bytes of one output, multipart for several) and outputs by
`value` or by `reference` (links to `/jobs/{id}/results/{output}`).

Every answer that carries an output's bytes goes through `untrusted`: an output is a
process's data, possibly HTML or SVG with script in it, and a browser that opens it must
run none of it with the API's origin, whichever route sent it."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import Response, StreamingResponse

from fastproc.api.responses import JSONResponse
from fastproc.jobs.service import JobService
from fastproc.ogc import media
from fastproc.ogc.exceptions import NoSuchJob
from fastproc.ogc.models import ResponseMode, TransmissionMode
from fastproc.store.result_document import (
    StoredOutput,
    decode_results,
    document_value,
    is_apart,
    output_bytes,
    qualified_binary,
)

#: Headers of every answer that carries outputs: `sandbox` gives the document an origin of
#: its own and no scripts; `nosniff` keeps a browser from reading it as HTML when its type
#: says otherwise.
UNTRUSTED_CONTENT = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


def untrusted(response: Response) -> Response:
    """`response`, sent as outputs are: with `UNTRUSTED_CONTENT`."""
    response.headers.update(UNTRUSTED_CONTENT)
    return response


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


async def output_content(stored: StoredOutput, job_id: str, name: str, jobs: JobService
                         ) -> tuple[bytes, str]:
    """The raw bytes of one output and their media type, wherever they are stored."""
    if not is_apart(stored):
        return output_bytes(stored)
    data = await jobs.load_output(job_id, name)
    if data is None:
        raise NoSuchJob(f"output '{name}' of job {job_id} is gone (expired or removed)")
    return data, str(stored.get("mediaType") or "application/octet-stream")


async def render_results(request: dict[str, Any], blob: bytes, base: str, job_id: str,
                         jobs: JobService) -> Response:
    """The results of an execute request, as it asked for them, sent as `untrusted`."""
    return untrusted(await _rendered(request, blob, base, job_id, jobs))


async def _rendered(request: dict[str, Any], blob: bytes, base: str, job_id: str,
                    jobs: JobService) -> Response:
    stored = decode_results(blob)
    wanted = _requested(request, stored)
    if request.get("response", ResponseMode.RAW.value) == ResponseMode.DOCUMENT.value:
        doc: dict[str, Any] = {}
        for name, mode in wanted.items():
            if mode == "reference":
                doc[name] = _reference(base, job_id, name, stored[name])
            elif is_apart(stored[name]):
                data, media_type = await output_content(stored[name], job_id, name, jobs)
                doc[name] = qualified_binary(data, media_type)
            else:
                doc[name] = document_value(stored[name])
        return JSONResponse(doc)
    if all(mode == "reference" for mode in wanted.values()):
        links = [_link_header(_reference(base, job_id, n, stored[n])) for n in wanted]
        return Response(status_code=204, headers={"Link": ", ".join(links)})
    if len(wanted) == 1:
        name = next(iter(wanted))
        if is_apart(stored[name]):
            return await stream_apart(stored[name], job_id, name, jobs)
        data, media_type = await output_content(stored[name], job_id, name, jobs)
        return Response(data, media_type=media_type)
    return await _multipart(wanted, stored, base, job_id, jobs)


async def stream_apart(stored: StoredOutput, job_id: str, name: str, jobs: JobService
                       ) -> Response:
    """A large output sent in chunks straight from Redis, with its length announced. Its
    presence is checked first: after the headers, a failure could only cut the body short."""
    size = int(stored.get("size", 0))
    if await jobs.output_size(job_id, name) < size:
        raise NoSuchJob(f"output '{name}' of job {job_id} is gone (expired or removed)")
    return StreamingResponse(
        jobs.stream_output(job_id, name, size),
        media_type=str(stored.get("mediaType") or "application/octet-stream"),
        headers={"Content-Length": str(size)})


def _link_header(ref: dict[str, str]) -> str:
    return f'<{ref["href"]}>; rel="{ref["rel"]}"; type="{ref["type"]}"; title="{ref["title"]}"'


async def _multipart(wanted: dict[str, str], stored: dict[str, StoredOutput], base: str,
                     job_id: str, jobs: JobService) -> Response:
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for name, mode in wanted.items():
        if mode == "reference":
            ref = _reference(base, job_id, name, stored[name])
            head = f"Content-ID: <{name}>\r\nContent-Type: {ref['type']}\r\n" \
                   f"Content-Location: {ref['href']}\r\n"
            data = b""
        else:
            data, media_type = await output_content(stored[name], job_id, name, jobs)
            head = f"Content-ID: <{name}>\r\nContent-Type: {media_type}\r\n"
        chunks.append(f"--{boundary}\r\n{head}\r\n".encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return Response(b"".join(chunks),
                    media_type=f'{media.MULTIPART_RELATED}; boundary="{boundary}"')
