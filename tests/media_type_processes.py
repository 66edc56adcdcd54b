"""Processes whose outputs name their media type at run time, or declare one that is not a
media type: the output media type tests load them on a stack of their own."""

from __future__ import annotations

from typing import Annotated

from fastproc import Binary, MediaType, process

#: Declared by `declared_crlf`: a line break would end the header it is sent in.
CRLF_MEDIA_TYPE = "text/plain\r\nX-Injected: yes"


@process(output="data")
async def binary_in(media_type: str) -> Binary:
    """Returns a few bytes in the media type it is given."""
    return Binary(b"a,b\n1,2\n", media_type)


@process(output="data")
async def declared_crlf() -> Annotated[bytes, MediaType(CRLF_MEDIA_TYPE)]:
    """Returns bytes in the media type its output declares: not a media type."""
    return b"data"
