"""Rendering a stored result document as the execute request asked for it (OGC 1.0 7.11):
`document` (JSON), `raw` (the bytes of one output, multipart for several) and outputs by
`value` or by `reference` (links to `/jobs/{id}/results/{output}`, or presigned URLs of the
output store with `FASTPROC_OUTPUT_LINKS=presigned`, never outliving the job).

Outputs stored apart (in Redis or in the output store) are streamed: raw, one by one, or
in a multipart answer; the API never holds one whole but for a `document` by value.

Every answer that carries an output's bytes goes through `untrusted`: an output is a
process's data, possibly HTML or SVG with script in it, and a browser that opens it must
run none of it with the API's origin, whichever route sent it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse

from fastproc.api.responses import JSONResponse
from fastproc.jobs.service import JobService
from fastproc.ogc import media
from fastproc.ogc.exceptions import NoSuchJob
from fastproc.ogc.models import ResponseMode, TransmissionMode
from fastproc.store.result_document import (
    StoredOutput,
    base64_chunks,
    base64_length,
    decode_results,
    document_value,
    is_apart,
    object_key,
    output_bytes,
    output_link,
)

#: Headers of every answer that carries outputs: `sandbox` gives the document an origin of
#: its own and no scripts; `nosniff` keeps a browser from reading it as HTML when its type
#: says otherwise.
UNTRUSTED_CONTENT = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


def untrusted(response: Response) -> Response:
    """`response`, sent as outputs are: with `UNTRUSTED_CONTENT`."""
    response.headers.update(UNTRUSTED_CONTENT)
    return response


async def _reference(base: str, job_id: str, name: str, stored: StoredOutput,
                     jobs: JobService) -> dict[str, str]:
    media_type = stored.get("mediaType") or (
        "text/plain" if isinstance(stored.get("value"), str) else media.JSON)
    link = output_link(base, job_id, name, media_type)
    link["href"] = await _href(base, job_id, name, stored, jobs)
    return link


async def _href(base: str, job_id: str, name: str, stored: StoredOutput,
                jobs: JobService) -> str:
    """Where an output is fetched: the API (which checks the caller), or a presigned URL
    of the output store that expires no later than the job."""
    key = object_key(stored)
    if key is not None and jobs.outputs is not None and jobs.outputs.presign:
        lifetime = await jobs.output_lifetime(stored)
        if lifetime is not None and lifetime >= 1:
            return await jobs.outputs.signed_url(key, lifetime)
    return f"{base}/jobs/{job_id}/results/{name}"


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
    await _check_present(stored, job_id, name, jobs)
    try:
        data = b"".join([chunk async for chunk in jobs.output_stream(job_id, name, stored)])
    except LookupError as exc:
        raise _gone(job_id, name) from exc
    return data, str(stored.get("mediaType") or "application/octet-stream")


def _gone(job_id: str, name: str) -> NoSuchJob:
    return NoSuchJob(f"output '{name}' of job {job_id} is gone (expired or removed)")


async def _check_present(stored: StoredOutput, job_id: str, name: str, jobs: JobService
                         ) -> None:
    try:
        present = await jobs.output_present(job_id, name, stored)
    except LookupError:
        present = False
    if not present:
        raise _gone(job_id, name)


async def render_results(request: dict[str, Any], blob: bytes, base: str, job_id: str,
                         jobs: JobService) -> Response:
    """The results of an execute request, as it asked for them, sent as `untrusted`."""
    return untrusted(await _rendered(request, blob, base, job_id, jobs))


async def _rendered(request: dict[str, Any], blob: bytes, base: str, job_id: str,
                    jobs: JobService) -> Response:
    stored = decode_results(blob)
    wanted = _requested(request, stored)
    if request.get("response", ResponseMode.RAW.value) == ResponseMode.DOCUMENT.value:
        return await _document(wanted, stored, base, job_id, jobs)
    if all(mode == "reference" for mode in wanted.values()):
        links = [_link_header(await _reference(base, job_id, n, stored[n], jobs))
                 for n in wanted]
        return Response(status_code=204, headers={"Link": ", ".join(links)})
    if len(wanted) == 1:
        name = next(iter(wanted))
        if is_apart(stored[name]):
            return await stream_apart(stored[name], job_id, name, jobs)
        data, media_type = await output_content(stored[name], job_id, name, jobs)
        return Response(data, media_type=media_type)
    return await _multipart(wanted, stored, base, job_id, jobs)


async def _document(wanted: dict[str, str], stored: dict[str, StoredOutput], base: str,
                    job_id: str, jobs: JobService) -> Response:
    """A results document. An output stored apart and asked for by value is written as it
    is read, its base64 encoded chunk by chunk inside the JSON: a 1 GB output by value
    costs the API a few chunks, not the output, its base64 and the document at once.
    Each is checked present first, since a failure once the body has started could only
    cut it short."""
    doc: dict[str, Any] = {}
    for name, mode in wanted.items():
        if mode == "reference":
            doc[name] = await _reference(base, job_id, name, stored[name], jobs)
        elif is_apart(stored[name]):
            await _check_present(stored[name], job_id, name, jobs)
            doc[name] = stored[name]
        else:
            doc[name] = document_value(stored[name])
    streamed = {name for name, mode in wanted.items()
                if mode != "reference" and is_apart(stored[name])}
    if not streamed:
        return JSONResponse(doc)
    members = {name: value if name in streamed else orjson.dumps(value)
               for name, value in doc.items()}
    heads = [(b"," if i else b"{") + orjson.dumps(name) + b":"
             for i, name in enumerate(members)]
    length = sum(map(len, heads)) + 1
    for value in members.values():
        length += len(value) if isinstance(value, bytes) else (
            len(_VALUE_HEAD) + base64_length(int(value.get("size", 0)))
            + len(_value_tail(value)))

    async def body() -> AsyncIterator[bytes]:
        for head, (name, value) in zip(heads, members.items(), strict=True):
            yield head
            if isinstance(value, bytes):
                yield value
                continue
            yield _VALUE_HEAD
            async for chunk in base64_chunks(jobs.output_stream(job_id, name, value)):
                yield chunk
            yield _value_tail(value)
        yield b"}"

    return StreamingResponse(body(), media_type=media.JSON,
                             headers={"Content-Length": str(length)})


#: How a base64 value opens in a results document, and (`_value_tail`) how it closes.
_VALUE_HEAD = b'{"value":"'


def _value_tail(stored: StoredOutput) -> bytes:
    media_type = str(stored.get("mediaType") or "application/octet-stream")
    return b'","encoding":"base64","mediaType":' + orjson.dumps(media_type) + b"}"


async def stream_apart(stored: StoredOutput, job_id: str, name: str, jobs: JobService
                       ) -> Response:
    """A large output sent in chunks from Redis or the output store, its length announced. Its
    presence is checked first: after the headers, a failure could only cut the body short."""
    await _check_present(stored, job_id, name, jobs)
    return StreamingResponse(
        jobs.output_stream(job_id, name, stored),
        media_type=str(stored.get("mediaType") or "application/octet-stream"),
        headers={"Content-Length": str(stored.get("size", 0))})


def _link_header(ref: dict[str, str]) -> str:
    return f'<{ref["href"]}>; rel="{ref["rel"]}"; type="{ref["type"]}"; title="{ref["title"]}"'


async def _multipart(wanted: dict[str, str], stored: dict[str, StoredOutput], base: str,
                     job_id: str, jobs: JobService) -> Response:
    """Several outputs as multipart/related, each part streamed: one stored apart is read
    in chunks as it is sent. Each is checked present first, since a failure once the
    body has started could only cut it short."""
    boundary = uuid.uuid4().hex
    heads: list[tuple[str, str, bool]] = []
    for name, mode in wanted.items():
        if mode == "reference":
            ref = await _reference(base, job_id, name, stored[name], jobs)
            heads.append((name, f"Content-ID: <{name}>\r\nContent-Type: {ref['type']}\r\n"
                                f"Content-Location: {ref['href']}\r\n", False))
            continue
        if is_apart(stored[name]):
            await _check_present(stored[name], job_id, name, jobs)
            media_type = str(stored[name].get("mediaType") or "application/octet-stream")
        else:
            media_type = output_bytes(stored[name])[1]
        heads.append((name, f"Content-ID: <{name}>\r\nContent-Type: {media_type}\r\n", True))

    async def body() -> AsyncIterator[bytes]:
        for name, head, with_content in heads:
            yield f"--{boundary}\r\n{head}\r\n".encode()
            if with_content and is_apart(stored[name]):
                async for chunk in jobs.output_stream(job_id, name, stored[name]):
                    yield chunk
            elif with_content:
                yield output_bytes(stored[name])[0]
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    content_type = f'{media.MULTIPART_RELATED}; boundary="{boundary}"'
    if not any(with_content and is_apart(stored[name]) for name, _, with_content in heads):
        # Every part is in the result document already: one body with its length, sent
        # in one write, instead of a chunked stream of a few small pieces.
        return Response(b"".join([chunk async for chunk in body()]), media_type=content_type)
    return StreamingResponse(body(), media_type=content_type)
