"""Every error leaves as an OGC exception document (exception.yaml); never a traceback."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from loguru import logger
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path

from fastproc.api.responses import ProblemResponse
from fastproc.ogc import media
from fastproc.ogc.exceptions import (
    InvalidParameterValue,
    MethodNotAllowed,
    NotFound,
    OGCException,
    ServiceUnavailable,
)
from fastproc.ogc.models import first_error
from fastproc.store.replication import NotReplicated

#: Error replies of a Redis in the middle of a failover (a primary demoted under a call, a
#: replica loading, a primary down): the next try goes to the new primary.
_FAILOVER_REPLIES = ("READONLY", "UNBLOCKED", "LOADING", "MASTERDOWN", "TRYAGAIN")


def problem(exc: OGCException, request: Request) -> Response:
    return ProblemResponse(exc.to_dict(request.url.path), status_code=exc.status,
                           headers=exc.headers, media_type=problem_media_type(request))


def problem_media_type(request: Request) -> str:
    """RFC 7807's `application/problem+json`, unless the client accepts plain JSON and not
    that: the document (exception.yaml) is JSON either way, and OGC 1.0's own API definition
    answers exceptions as `application/json`, which the OGC test suite requires of a client
    that asks only for it (testJobCreationInputValidation, Jobs.java 1256-1264)."""
    accepted = {part.split(";")[0].strip().lower()
                for part in request.headers.get("accept", "").split(",")}
    if media.JSON in accepted and not accepted & {media.PROBLEM_JSON, "*/*", "application/*"}:
        return media.JSON
    return media.PROBLEM_JSON


async def _ogc(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OGCException)
    return problem(exc, request)


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    where, what = first_error(exc)
    return problem(InvalidParameterValue(f"{where}: {what}"), request)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = ", ".join(allowed_methods(request))
        return problem(MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}",
                                        headers={"Allow": allowed}), request)
    if exc.status_code == 404:
        return problem(NotFound(f"no resource at {request.url.path}"), request)
    return ProblemResponse(
        {"type": "about:blank", "title": str(exc.detail), "status": exc.status_code},
        status_code=exc.status_code,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the API document offers at this path (the router names only the first
    matching route's)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(request.url.path):
            methods.update(method.upper() for method in operations)
    return sorted(methods)


async def _redis_down(request: Request, exc: Exception) -> Response:
    logger.warning("Redis unreachable while serving {}: {}", request.url.path, exc)
    return problem(ServiceUnavailable("the job store (Redis) is unreachable; retry shortly",
                                      headers={"Retry-After": "2"}), request)


async def _not_replicated(request: Request, exc: Exception) -> Response:
    logger.warning("write not replicated while serving {}: {}", request.url.path, exc)
    return problem(ServiceUnavailable(
        "the job store could not confirm the write on enough replicas; it may or may not "
        "have been kept: retry shortly", headers={"Retry-After": "2"}), request)


async def _redis_reply(request: Request, exc: Exception) -> Response:
    """A failover's error replies are a Redis that is away for a moment; any other reply
    is a bug of ours."""
    if str(exc).upper().startswith(_FAILOVER_REPLIES) or isinstance(exc, ReadOnlyError):
        return await _redis_down(request, exc)
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> Response:
    logger.opt(exception=exc).error("unhandled error on {} {}", request.method, request.url.path)
    body = OGCException("the server failed to handle this request; it has been logged")
    return problem(body, request)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OGCException, _ogc)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RedisConnectionError, _redis_down)
    app.add_exception_handler(RedisTimeoutError, _redis_down)
    app.add_exception_handler(ConnectionRefusedError, _redis_down)
    app.add_exception_handler(NotReplicated, _not_replicated)
    app.add_exception_handler(ResponseError, _redis_reply)
    app.add_exception_handler(Exception, _unexpected)
