"""Following a job to its end: from its event stream when the server offers one, else (or
when the stream breaks) by polling its status, always within a deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from fastproc.client.errors import WaitTimeout
from fastproc.client.http import EventsUnavailable, OGCClient
from fastproc.ogc.models import StatusInfo

#: Longest read on an event stream: well above the keep-alive period of fastproc (15 s), so a
#: live stream never times out, yet a stream that went silent is noticed and replaced by polls.
STREAM_READ_TIMEOUT = 45.0


@dataclass
class Watch:
    """How to follow: `events` tries the stream first; polls are `interval` seconds apart;
    `timeout` bounds the whole wait."""

    events: bool = True
    interval: float = 0.5
    timeout: float = 600.0


class _Deadline:
    def __init__(self, job_id: str, timeout: float) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.at = time.monotonic() + timeout

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def check(self, last: StatusInfo) -> None:
        if self.remaining() <= 0:
            raise self.expired(last)

    def expired(self, last: StatusInfo) -> WaitTimeout:
        progress = f" at {last.progress}%" if last.progress is not None else ""
        return WaitTimeout(f"job {self.job_id} is still {last.status.value}{progress} after "
                           f"{self.timeout:g} s; it keeps running on the server "
                           "(see fastproc jobs)")


def follow(client: OGCClient, job: StatusInfo, watch: Watch) -> Iterator[StatusInfo]:
    """Every status of `job` from the one given to a terminal one, which is the last.

    Raises `WaitTimeout` when the job has not ended within `watch.timeout` seconds.
    """
    yield job
    if job.status.terminal:
        return
    deadline = _Deadline(job.jobID, watch.timeout)
    last = job
    if watch.events:
        try:
            for status in _streamed(client, last, deadline):
                last = status
                yield status
                if status.status.terminal:
                    return
        except EventsUnavailable:
            deadline.check(last)  # a read that timed out at the deadline is a timeout
    yield from _polled(client, last, deadline, watch.interval)


def _streamed(client: OGCClient, last: StatusInfo, deadline: _Deadline
              ) -> Iterator[StatusInfo]:
    read_timeout = max(0.1, min(STREAM_READ_TIMEOUT, deadline.remaining()))
    for status in client.events(last.jobID, read_timeout=read_timeout, until=deadline.at):
        last = status
        yield status
        if status.status.terminal:
            return
        deadline.check(last)


def _polled(client: OGCClient, last: StatusInfo, deadline: _Deadline, interval: float
            ) -> Iterator[StatusInfo]:
    while True:
        status = client.status(last.jobID)
        last = status
        yield status
        if status.status.terminal:
            return
        deadline.check(last)
        # The polling period itself; the last sleep ends at the deadline, for one last look.
        time.sleep(max(0.0, min(interval, deadline.remaining())))
