"""Reading a Server-Sent Events stream (the WHATWG `text/event-stream` format) line by line.

Only what a job's event stream needs: `event`, `data` (several lines joined by newlines) and
`id` fields; comment lines (keep-alives) are surfaced as `None` so a caller can look at its
clock while a quiet job sends nothing else.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One dispatched event; `event` is "message" when the server named none."""

    event: str
    data: str
    id: str | None = None


def messages(lines: Iterable[str]) -> Iterator[Message | None]:
    """Messages of the stream whose lines (without line ends) are `lines`.

    >>> list(messages(["event: status", 'data: {"a": 1}', "", ": keepalive", ""]))
    [Message(event='status', data='{"a": 1}', id=None), None]
    """
    event = ""
    data: list[str] = []
    last_id: str | None = None
    for line in lines:
        if not line:
            if data:
                yield Message(event or "message", "\n".join(data), last_id)
            event, data = "", []
            continue
        if line.startswith(":"):
            yield None
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            last_id = value
