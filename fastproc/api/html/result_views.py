"""A stored result document as the results page shows it: each output with its media type,
size and a preview of its content (see `previews`), or a download link when a person could
not read it. An output stored apart is previewed from its first bytes only, read with one
GETRANGE: a page never loads a large output whole.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from fastproc.api.html.previews import (
    PREVIEW_BYTES,
    Kind,
    Preview,
    preview_bytes,
    preview_kind,
    preview_value,
)
from fastproc.ogc.models import OutputDescription
from fastproc.store.result_document import StoredOutput, is_apart, output_bytes

#: The first `n` bytes of the output of this name stored apart; None once it is gone.
OutputHead = Callable[[str, int], Awaitable[bytes | None]]


class OutputReader(Protocol):
    """What reads the head of outputs stored apart, in Redis or the output store (the jobs
    service)."""

    async def output_head(self, job_id: str, name: str, stored: StoredOutput,
                          n: int) -> bytes | None: ...


@dataclass(slots=True)
class OutputView:
    name: str
    title: str
    media_type: str
    href: str
    preview: Preview
    size: int | None = None


def first_bytes_of(reader: OutputReader, job_id: str,
                   stored: Mapping[str, StoredOutput]) -> OutputHead:
    """Reads the head of a job's outputs stored apart, in one read (a GETRANGE, or a
    ranged GET of the object)."""
    async def head(name: str, n: int) -> bytes | None:
        try:
            return await reader.output_head(job_id, name, stored[name], n)
        except LookupError:
            return None
    return head


def _described_media_type(description: OutputDescription | None) -> str | None:
    media = description.schema_.get("contentMediaType") if description else None
    return str(media) if media else None


async def _apart_view(name: str, stored: StoredOutput, title: str, href: str,
                      head: OutputHead) -> OutputView:
    media_type = str(stored.get("mediaType") or "application/octet-stream")
    size = int(stored.get("size", 0))
    view = OutputView(name, title, media_type, href, Preview(preview_kind(media_type)), size)
    if view.preview.kind in (Kind.IMAGE, Kind.DOWNLOAD):  # the browser streams it from href
        return view
    data = await head(name, min(size, PREVIEW_BYTES))
    if data is None:
        view.preview = Preview(Kind.DOWNLOAD, note="this output is gone (expired or removed)")
    else:
        view.preview = preview_bytes(data, media_type, total=size)
    return view


def _inline_view(name: str, stored: StoredOutput, title: str, href: str,
                 described: str | None) -> OutputView:
    if "mediaType" in stored or isinstance(stored.get("value"), str):
        data, media_type = output_bytes(stored)
        return OutputView(name, title, media_type, href, preview_bytes(data, media_type),
                          len(data))
    value = stored.get("value")  # a JSON value (GeoJSON too, when the description says so)
    media_type = described or "application/json"
    return OutputView(name, title, media_type, href, preview_value(value, media_type))


async def output_views(stored: Mapping[str, StoredOutput],
                       descriptions: Mapping[str, OutputDescription], job_href: str,
                       head: OutputHead) -> list[OutputView]:
    """Views of every stored output; `job_href` is the job's URL (outputs hang below it),
    `head` reads the first bytes of an output stored apart (`first_bytes_of`)."""
    views = []
    for name, output in stored.items():
        described = descriptions.get(name)
        title = (described.title if described else None) or name
        href = f"{job_href}/results/{name}"
        if is_apart(output):
            views.append(await _apart_view(name, output, title, href, head))
        else:
            views.append(_inline_view(name, output, title, href,
                                      _described_media_type(described)))
    return views
