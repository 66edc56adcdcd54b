"""`OGCClient`: the HTTP conversation with any OGC API - Processes 1.0 server.

It speaks the standard (process list and descriptions, execution with `Prefer`, job status,
results, job list) plus fastproc's `GET /jobs/{id}/events` stream where a server offers it.
Every failure leaves as a `ClientError` carrying one readable line; nothing here prints.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from fastproc.client.errors import ServerError, UnexpectedAnswer, Unreachable
from fastproc.extras import extra
from fastproc.ogc import media
from fastproc.ogc.models import (
    JobList,
    ProcessDescription,
    ProcessList,
    ProcessSummary,
    ResponseMode,
    StatusCode,
    StatusInfo,
)

Model = TypeVar("Model", bound=BaseModel)

EVENT_STREAM = "text/event-stream"
#: PROV-N, the text notation of W3C PROV.
PROV_N = "text/provenance-notation"
#: Seconds to open a connection; a server that cannot be reached in this time is down.
CONNECT_TIMEOUT = 10.0
#: Seconds to wait for an ordinary answer (not an execution, which waits as long as asked).
READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class Answer:
    """A results answer as it came: a JSON results document, or raw bytes of an output."""

    media_type: str
    content: bytes

    @property
    def is_json(self) -> bool:
        return is_json_media(self.media_type)


def bare_media_type(content_type: str) -> str:
    """`image/png` from `image/png; charset=...`, lower case."""
    return content_type.split(";")[0].strip().lower()


def is_json_media(media_type: str) -> bool:
    """`application/json` and the `+json` types (problem details, GeoJSON...)."""
    bare = bare_media_type(media_type)
    return bare == media.JSON or bare.endswith("+json")


class EventsUnavailable(Exception):
    """The server offers no event stream for the job, or the stream broke: poll instead."""


class OGCClient:
    """A synchronous client of one server; use it as a context manager.

    >>> with OGCClient("http://127.0.0.1:8000") as ogc:
    ...     answer = ogc.execute("echo", {"value": "hi"}, prefer_async=False, wait=30)
    """

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        try:
            self._http = httpx.Client(
                base_url=self.url, follow_redirects=True,
                timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
            )
        except httpx.InvalidURL as exc:
            raise Unreachable(url, str(exc)) from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- processes ---------------------------------------------------------------------------

    def processes(self, *, limit: int) -> list[ProcessSummary]:
        return _parse(ProcessList, self.process_list(limit=limit), "the process list").processes

    def process_list(self, *, limit: int) -> Any:
        """The process list document as the server sent it (checked to be one)."""
        doc = self._get_json("processes", params={"limit": limit})
        _parse(ProcessList, doc, "the process list")
        return doc

    def describe(self, process_id: str) -> ProcessDescription:
        return _parse(ProcessDescription, self.description(process_id),
                      f"the description of '{process_id}'")

    def description(self, process_id: str) -> Any:
        """The process description document as the server sent it (checked to be one)."""
        doc = self._get_json(f"processes/{_segment(process_id)}")
        _parse(ProcessDescription, doc, f"the description of '{process_id}'")
        return doc

    def execute(self, process_id: str, inputs: dict[str, Any], *, prefer_async: bool,
                wait: float, outputs: dict[str, Any] | None = None) -> Answer | StatusInfo:
        """Execute, asking for a results document: the results at once, or the job to follow
        (async execution, or a synchronous one the server turned into a job). `wait` bounds
        a synchronous answer; `outputs` selects outputs as an execute request does."""
        headers = {"Accept": f"{media.JSON}, */*;q=0.5"}
        if prefer_async:
            headers["Prefer"] = "respond-async"
        body: dict[str, Any] = {"inputs": inputs, "response": ResponseMode.DOCUMENT.value}
        if outputs:
            body["outputs"] = outputs
        response = self._send(self._http.build_request(
            "POST", f"processes/{_segment(process_id)}/execution", json=body, headers=headers,
            timeout=httpx.Timeout(wait, connect=CONNECT_TIMEOUT)))
        if response.status_code in (201, 202):
            return self._created_job(response)
        return _answer(response)

    def _created_job(self, response: httpx.Response) -> StatusInfo:
        """The job of a 201: its statusInfo, or at least its id from `Location`."""
        try:
            return StatusInfo.model_validate(response.json())
        except (ValueError, ValidationError):
            location = response.headers.get("location", "").rstrip("/")
            if not location:
                raise UnexpectedAnswer(
                    f"the server created a job but gave neither its status nor its Location "
                    f"({response.request.url})") from None
            return StatusInfo(jobID=location.rsplit("/", 1)[-1], status=StatusCode.ACCEPTED)

    # -- jobs --------------------------------------------------------------------------------

    def jobs(self, *, limit: int, statuses: Sequence[str] = (),
             process_ids: Sequence[str] = ()) -> list[StatusInfo]:
        doc = self.job_list(limit=limit, statuses=statuses, process_ids=process_ids)
        return _parse(JobList, doc, "the job list").jobs

    def job_list(self, *, limit: int, statuses: Sequence[str] = (),
                 process_ids: Sequence[str] = ()) -> Any:
        """The job list document as the server sent it (checked to be one)."""
        params: dict[str, Any] = {"limit": limit}
        if statuses:
            params["status"] = list(statuses)
        if process_ids:
            params["processID"] = list(process_ids)
        doc = self._get_json("jobs", params=params)
        _parse(JobList, doc, "the job list")
        return doc

    # -- job management (OGC API - Processes - Part 4) --------------------------------------

    def create_job(self, definition: dict[str, Any]) -> StatusInfo:
        """A job defined, not started (`POST /jobs`): its statusInfo, status `created`."""
        response = self._send(self._http.build_request("POST", "jobs", json=definition,
                                                       headers={"Accept": media.JSON}))
        return self._created_job(response)

    def update_job(self, job_id: str, patch: dict[str, Any]) -> StatusInfo:
        """Replace members of a created job's definition (`PATCH /jobs/{id}`)."""
        return self._status_of(self._send(self._http.build_request(
            "PATCH", f"jobs/{_segment(job_id)}", json=patch, headers={"Accept": media.JSON})),
            job_id)

    def start_job(self, job_id: str) -> StatusInfo:
        """Start a created job (`POST /jobs/{id}/results`)."""
        return self._status_of(self._send(self._http.build_request(
            "POST", f"jobs/{_segment(job_id)}/results", headers={"Accept": media.JSON})),
            job_id)

    def definition(self, job_id: str) -> dict[str, Any]:
        """What the job was created or run with (`GET /jobs/{id}/definition`)."""
        doc = self._get_json(f"jobs/{_segment(job_id)}/definition")
        if not isinstance(doc, dict):
            raise UnexpectedAnswer(f"the definition of job {job_id} is not a JSON object")
        return doc

    def provenance(self, job_id: str, *, notation: bool = False) -> str:
        """The job's W3C PROV document (`GET /jobs/{id}/prov`): PROV-JSON, or PROV-N."""
        accept = PROV_N if notation else media.JSON
        return self._send(self._http.build_request(
            "GET", f"jobs/{_segment(job_id)}/prov", headers={"Accept": accept})).text

    def dismiss(self, job_id: str) -> StatusInfo:
        """Dismiss the job (`DELETE /jobs/{id}`): cancelled if it runs, its results gone."""
        return self._status_of(self._send(self._http.build_request(
            "DELETE", f"jobs/{_segment(job_id)}", headers={"Accept": media.JSON})), job_id)

    def _status_of(self, response: httpx.Response, job_id: str) -> StatusInfo:
        return _parse(StatusInfo, _loads(response.content, response.request.url),
                      f"the status of job {job_id}")

    def status(self, job_id: str) -> StatusInfo:
        doc = self._get_json(f"jobs/{_segment(job_id)}")
        return _parse(StatusInfo, doc, f"the status of job {job_id}")

    def logs(self, job_id: str, after: int = 0) -> tuple[str, int]:
        """A fastproc server's log of the job as text, from the line after `after`, and
        the number to ask after next time (its `/jobs/{id}/logs`, an extension)."""
        response = self._send(self._http.build_request(
            "GET", f"jobs/{_segment(job_id)}/logs", params={"f": "text", "after": after},
            headers={"Accept": "text/plain"}))
        following = response.headers.get("x-fastproc-log-next", "")
        return response.text, int(following) if following.isdigit() else after

    def results(self, job_id: str) -> Answer:
        return _answer(self._send(self._http.build_request(
            "GET", f"jobs/{_segment(job_id)}/results",
            headers={"Accept": f"{media.JSON}, */*;q=0.5"})))

    def events(self, job_id: str, *, read_timeout: float, until: float | None = None
               ) -> Iterator[StatusInfo]:
        """The job's statuses from its event stream, until the monotonic time `until`.

        Raises `EventsUnavailable` when the server answers anything but an event stream,
        when the stream breaks, or at `until`: the caller polls instead, or gives up.
        """
        request = self._http.build_request(
            "GET", f"jobs/{_segment(job_id)}/events", headers={"Accept": EVENT_STREAM},
            timeout=httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT))
        # httpx-sse comes with the `client` extra; everything else here needs only httpx.
        with extra("client"):
            from fastproc.client import sse
        response = self._send(request, stream=True, check=False)
        try:
            if response.status_code != 200 or _media_type(response) != EVENT_STREAM:
                raise EventsUnavailable(f"{response.status_code} {_media_type(response)}")
            for event in sse.events(response, until=until):
                if event.event == "status":
                    yield _parse(StatusInfo, _loads(event.data, request.url),
                                 f"an event of job {job_id}")
        except sse.DeadlinePassed as exc:
            raise EventsUnavailable("the deadline passed") from exc
        except httpx.RequestError as exc:
            raise EventsUnavailable(str(exc) or type(exc).__name__) from exc
        finally:
            response.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._send(self._http.build_request(
            "GET", path, params=params, headers={"Accept": media.JSON}))
        return _loads(response.content, response.request.url)

    def _send(self, request: httpx.Request, *, stream: bool = False,
              check: bool = True) -> httpx.Response:
        try:
            response = self._http.send(request, stream=stream)
        except httpx.RequestError as exc:
            raise _transport_error(self.url, exc) from exc
        if check and response.status_code >= 400:
            if stream:
                response.read()
            raise _server_error(response)
        return response


def _segment(text: str) -> str:
    return quote(text, safe="")


def _media_type(response: httpx.Response) -> str:
    return bare_media_type(str(response.headers.get("content-type", "")))


def _answer(response: httpx.Response) -> Answer:
    return Answer(_media_type(response) or "application/octet-stream", response.content)


def _loads(data: bytes | str, url: httpx.URL) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise UnexpectedAnswer(f"the answer of {url} is not JSON: {exc}") from exc


def _parse(model: type[Model], doc: Any, what: str) -> Model:
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise UnexpectedAnswer(f"{what} is not valid OGC: {where}: {first['msg']}") from exc


def _server_error(response: httpx.Response) -> ServerError:
    """An error answer as one line: from its exception document, else from its text."""
    problem: dict[str, Any] | None = None
    try:
        parsed = response.json()
        problem = parsed if isinstance(parsed, dict) else None
    except ValueError:
        problem = None
    text = " ".join(response.text.split())[:200]
    monitor = response.links.get("monitor", {}).get("url", "").rstrip("/")
    return ServerError(response.status_code, problem, text or response.reason_phrase,
                       job_id=monitor.rsplit("/", 1)[-1] if monitor else None)


def _transport_error(url: str, exc: httpx.RequestError) -> Unreachable:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.UnsupportedProtocol
                  | httpx.ProxyError):
        return Unreachable(url, reason)
    if isinstance(exc, httpx.TimeoutException):
        return Unreachable(url, f"no answer in time ({reason})", lead="gave up waiting for")
    return Unreachable(url, reason, lead="lost the connection to")
