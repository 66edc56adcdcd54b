"""OGC exceptions: one class per exception type, each carrying what the client reads.

The HTTP layer maps any `OGCException` to an RFC 7807 body (exception.yaml) in one handler.
"""

from __future__ import annotations

from typing import Any, ClassVar

_OGC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0"
#: Part 4 (job management, draft 24-051) exception types.
_PART4 = "http://www.opengis.net/def/exceptions/ogcapi-processes-4/1.0"


class OGCException(Exception):
    """Base of every error a client may see; `type_uri` and `status` are per subclass."""

    type_uri: ClassVar[str] = f"{_OGC}/server-error"
    title: ClassVar[str] = "Server error"
    status: ClassVar[int] = 500

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        return body


class NoSuchProcess(OGCException):
    type_uri = f"{_OGC}/no-such-process"
    title = "No such process"
    status = 404


class NoSuchJob(OGCException):
    type_uri = f"{_OGC}/no-such-job"
    title = "No such job"
    status = 404


class ResultNotReady(OGCException):
    type_uri = f"{_OGC}/result-not-ready"
    title = "Result not ready"
    status = 404


class NoSuchOutput(OGCException):
    type_uri = f"{_OGC}/no-such-output"
    title = "No such output"
    status = 404


class InvalidParameterValue(OGCException):
    """A request input, query parameter or body member that breaks the process's schema."""

    type_uri = f"{_OGC}/InvalidParameterValue"
    title = "Invalid parameter value"
    status = 400


class InvalidRequest(OGCException):
    """A body that is not JSON or not an execute request at all."""

    type_uri = f"{_OGC}/invalid-request"
    title = "Invalid request"
    status = 400


class PayloadTooLarge(OGCException):
    type_uri = f"{_OGC}/payload-too-large"
    title = "Payload too large"
    status = 413


class NotAcceptable(OGCException):
    type_uri = f"{_OGC}/not-acceptable"
    title = "Not acceptable"
    status = 406


class UnsupportedMediaType(OGCException):
    type_uri = f"{_OGC}/unsupported-media-type"
    title = "Unsupported media type"
    status = 415


class MethodNotAllowed(OGCException):
    type_uri = f"{_OGC}/method-not-allowed"
    title = "Method not allowed"
    status = 405


class NotFound(OGCException):
    type_uri = f"{_OGC}/not-found"
    title = "Not found"
    status = 404


class JobFailed(OGCException):
    """What /jobs/{id}/results answers for a failed job: the job's own error."""

    type_uri = f"{_OGC}/job-failed"
    title = "Job failed"
    status = 500

    def __init__(self, detail: str, *, type_uri: str | None = None, status: int = 500,
                 title: str | None = None) -> None:
        super().__init__(detail)
        if type_uri:
            self.type_uri = type_uri  # type: ignore[misc]
            self.title = title or type_uri.rsplit("/", 1)[-1]  # type: ignore[misc]
        self.status = status  # type: ignore[misc]


class JobDismissed(OGCException):
    type_uri = f"{_OGC}/job-dismissed"
    title = "Job dismissed"
    status = 410


class Unauthorized(OGCException):
    type_uri = f"{_OGC}/unauthorized"
    title = "Unauthorized"
    status = 401


class Forbidden(OGCException):
    type_uri = f"{_OGC}/forbidden"
    title = "Forbidden"
    status = 403


class TooManyJobs(OGCException):
    type_uri = f"{_OGC}/too-many-jobs"
    title = "Too many queued jobs"
    status = 429


class TooManyStreams(OGCException):
    type_uri = f"{_OGC}/too-many-streams"
    title = "Too many open streams"
    status = 429


class ServiceUnavailable(OGCException):
    type_uri = f"{_OGC}/service-unavailable"
    title = "Service unavailable"
    status = 503


class ProcessError(OGCException):
    """Raised by a process body to fail its job with a chosen type and status."""

    type_uri = f"{_OGC}/process-error"
    title = "Process error"
    status = 500


class UnsupportedJobMediaType(UnsupportedMediaType):
    """A job definition (`POST /jobs`, `PATCH /jobs/{id}`) in a media type not read
    (/req/job-management/create-unsupported-media-type)."""

    type_uri = f"{_PART4}/unsupported-media-type"


class UnsupportedSchema(OGCException):
    """A `Content-Schema` the server does not know
    (/req/job-management/create-unsupported-schema)."""

    type_uri = f"{_PART4}/unsupported-schema"
    title = "Unsupported schema"
    status = 422


class Locked(OGCException):
    """A job that is queued or running cannot be changed or started again
    (/req/job-management/update-response-locked)."""

    type_uri = f"{_PART4}/locked"
    title = "Locked"
    status = 423


class JobFinished(OGCException):
    """A job that ended keeps the definition it ran with: its record and provenance stay true.
    Re-run it instead (`POST /jobs/{id}/rerun`)."""

    type_uri = f"{_PART4}/locked"
    title = "Job finished"
    status = 409


class TooManyCreatedJobs(OGCException):
    """A caller holds `FASTPROC_MAX_CREATED_PER_CALLER` created, unstarted jobs already."""

    type_uri = f"{_OGC}/too-many-jobs"
    title = "Too many created jobs"
    status = 429
