"""What can go wrong for a client, as exceptions that carry the one line a user reads.

Each class knows its exit code, so the command layer maps any `ClientError` to stderr and
an exit status in one place and never shows a traceback:
1 the server refused or the job failed, 2 the server could not be reached, 130 Ctrl-C.
"""

from __future__ import annotations

from typing import Any

#: Exit statuses of `fastproc run | processes | jobs`.
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2
EXIT_INTERRUPTED = 130


class ClientError(Exception):
    """Base of every error the client reports; `str(error)` is the line shown."""

    exit_code = EXIT_REFUSED


class ServerError(ClientError):
    """An HTTP error answer, read from its OGC exception document when it has one.

    >>> str(ServerError(404, {"type": "http://x/no-such-process", "detail": "no process 'x'"}))
    "404 no-such-process: no process 'x'"
    """

    def __init__(self, status: int, problem: dict[str, Any] | None, fallback: str = "",
                 *, job_id: str | None = None) -> None:
        self.status = status
        #: The job the failed request ran as, when the server linked it (`rel=monitor`).
        self.job_id = job_id
        self.problem = problem or {}
        self.kind = _short_type(self.problem)
        self.detail = str(self.problem.get("detail") or self.problem.get("title") or fallback
                          or "no detail given")
        super().__init__(f"{status} {self.kind}: {self.detail}" if self.kind
                         else f"{status}: {self.detail}")


def _short_type(problem: dict[str, Any]) -> str:
    """`no-such-process` from `http://www.opengis.net/def/exceptions/.../no-such-process`."""
    uri = str(problem.get("type") or "")
    if not uri or uri == "about:blank":
        return ""
    return uri.rstrip("/").rsplit("/", 1)[-1]


class Unreachable(ClientError):
    """No HTTP answer at all: refused, timed out, broken connection, bad URL."""

    exit_code = EXIT_UNREACHABLE

    def __init__(self, url: str, reason: str, *, lead: str = "cannot reach") -> None:
        self.url = url
        super().__init__(f"{lead} {url}: {reason}")


class UnexpectedAnswer(ClientError):
    """A 2xx answer that is not the document the standard promises (another server's bug)."""


class JobUnsuccessful(ClientError):
    """The job ended `failed` or `dismissed`; the line says why, from its exception."""

    def __init__(self, job_id: str, reason: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} {reason}")


class WaitTimeout(ClientError):
    """The job did not end within `--timeout`; it goes on running on the server."""


class InputError(ClientError):
    """A `key=value` argument that cannot become an input of the process."""


class Interrupted(ClientError):
    """Ctrl-C while following a job: the job itself goes on on the server."""

    exit_code = EXIT_INTERRUPTED
