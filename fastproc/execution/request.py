"""The execute request as the use case reads it: parsed within the limits, and checked
against the process (outputs, transmission modes, media types, addresses to contact)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from fastproc.net import AddressNotAllowed, check_url_syntax
from fastproc.ogc import media
from fastproc.ogc.exceptions import InvalidParameterValue, InvalidRequest
from fastproc.ogc.inputs import references
from fastproc.ogc.limits import Limits
from fastproc.ogc.models import ExecuteRequest, JobControlOption, first_error
from fastproc.settings import Settings
from fastproc.store.catalogue import CataloguedProcess


def parse_body(data: dict[str, Any], limits: Limits, proc: CataloguedProcess) -> ExecuteRequest:
    """The execute request, bounded by `limits` before any model or schema sees it."""
    limits.check_request(data)
    try:
        body = ExecuteRequest.model_validate(data)
    except ValidationError as exc:
        where, what = first_error(exc)
        raise InvalidRequest(f"execute request member '{where}': {what}") from exc
    proc.validator.check_wrapped(body.model_extra or {})
    return body


def wants_async(body: ExecuteRequest, proc: CataloguedProcess, prefers_async: bool) -> bool:
    """Negotiate the execution mode (OGC 1.0 7.11.2), honouring fastprocesses' `mode`."""
    options = proc.description.jobControlOptions
    can_sync = JobControlOption.SYNC in options
    can_async = JobControlOption.ASYNC in options
    if not can_sync:
        return True
    if not can_async:
        return False
    if body.mode == "async":
        return True
    if body.mode == "sync":
        return False
    return prefers_async


def check_outputs(body: ExecuteRequest, proc: CataloguedProcess) -> None:
    """The outputs asked for exist, by a transmission mode and in a media type offered."""
    if not body.outputs:
        return
    known = proc.description.outputs
    allowed = set(proc.description.outputTransmission)
    for name, spec in body.outputs.items():
        if name not in known:
            raise InvalidParameterValue(
                f"unknown output '{name}' (outputs: {', '.join(sorted(known))})")
        if spec.transmissionMode not in allowed:
            raise InvalidParameterValue(
                f"output '{name}' cannot be transmitted by {spec.transmissionMode.value}")
        wanted = spec.format.mediaType if spec.format else None
        if wanted:
            offered = output_media_types(known[name].schema_)
            if wanted.split(";")[0].strip().lower() not in offered:
                raise InvalidParameterValue(
                    f"output '{name}' is offered as {', '.join(offered)}, not {wanted}")


def output_media_types(schema: dict[str, Any]) -> list[str]:
    """The media types an output can be delivered in (what `format.mediaType` may ask)."""
    declared = schema.get("contentMediaType")
    if declared:
        return [str(declared).lower()]
    if schema.get("type") == "string":
        return ["text/plain", media.JSON]
    return [media.JSON]


def check_addresses(body: ExecuteRequest, settings: Settings) -> None:
    """Input references and callback URIs must be URLs this server may contact."""
    targets = [(f"input '{name}'", href) for name, href in references(body.inputs)]
    if body.subscriber:
        targets += [(f"subscriber {uri}", str(getattr(body.subscriber, uri)))
                    for uri in ("successUri", "inProgressUri", "failedUri")
                    if getattr(body.subscriber, uri)]
    for what, url in targets:
        try:
            check_url_syntax(url, settings)
        except AddressNotAllowed as exc:
            raise InvalidParameterValue(f"{what}: {url} is refused: {exc}") from exc


def job_request_of(body: ExecuteRequest) -> dict[str, Any]:
    """What the job's record keeps of the execute request."""
    job_request: dict[str, Any] = {
        "inputs": body.inputs,
        "outputs": {k: v.dump() for k, v in body.outputs.items()} if body.outputs else None,
        "response": body.response.value,
    }
    if body.subscriber:
        job_request["subscriber"] = body.subscriber.dump()
    return job_request
