"""The hot routes dispatched below FastAPI (`fastproc.api.direct`) answer exactly as the
routed app does: the same status, bytes and headers, errors included. Two apps on the
session's Redis and worker, one without the direct dispatch, get the same requests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from fastproc.api.app import create_app
from fastproc.api.direct import DirectRoutes
from fastproc.settings import Settings
from tests.support import STARTUP_WAIT

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8000"
HEADERS = ("content-type", "etag", "location", "link", "preference-applied", "allow",
           "www-authenticate", "content-length")


class _Counting:
    """Counts the requests that reach FastAPI's router."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.seen = app, 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen += 1
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def _client(settings: Settings, *, direct: bool) -> AsyncIterator[
        tuple[httpx.AsyncClient, _Counting]]:
    app: FastAPI = create_app(settings)
    if not direct:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not DirectRoutes]
    counting = _Counting(app.router.middleware_stack)
    app.router.middleware_stack = counting
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE, timeout=30) as client:
        yield client, counting


@pytest.fixture
async def pair(env: dict[str, str], worker: object) -> AsyncIterator[
        tuple[tuple[httpx.AsyncClient, _Counting], httpx.AsyncClient]]:
    settings = Settings(redis_url=env["FASTPROC_REDIS_URL"],
                        key_prefix=env["FASTPROC_KEY_PREFIX"],
                        queue_name=env["FASTPROC_QUEUE_NAME"], sync_wait=20,
                        max_body_bytes=int(env["FASTPROC_MAX_BODY_BYTES"]))
    async with _client(settings, direct=True) as direct, \
            _client(settings, direct=False) as (routed, _):
        yield direct, routed


def _same(a: httpx.Response, b: httpx.Response) -> None:
    assert (a.status_code, a.content) == (b.status_code, b.content), (a.text, b.text)
    assert {h: a.headers.get(h) for h in HEADERS} == {h: b.headers.get(h) for h in HEADERS}


async def _job(client: httpx.AsyncClient, process: str, inputs: dict[str, Any],
               **body: Any) -> str:
    response = await client.post(f"/processes/{process}/execution",
                                 json={"inputs": inputs, **body},
                                 headers={"Prefer": "respond-async",
                                          "Cache-Control": "no-cache"})
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobID"]
    with anyio.fail_after(STARTUP_WAIT):  # its event stream ends when the job does
        events = await client.get(f"/jobs/{job_id}/events")
    assert '"status":"successful"' in events.text or '"status":"failed"' in events.text
    return job_id


async def test_polls_results_and_their_errors_answer_as_the_routed_app(pair: Any) -> None:
    (direct, counting), routed = pair
    # One output: a multipart answer would differ by its boundary alone.
    done = await _job(direct, "echo", {"value": "same"}, outputs={"value": {}})
    failed = await _job(direct, "fail", {"message": "on purpose"})
    before = counting.seen
    requests: list[tuple[str, dict[str, str]]] = [
        (f"/jobs/{done}", {}), (f"/jobs/{done}?f=json", {}),
        (f"/jobs/{done}", {"Accept": "application/json"}),
        (f"/jobs/{done}/results", {}), (f"/jobs/{failed}/results", {}),
        (f"/jobs/{failed}", {}), ("/jobs/no-such-job", {}), ("/jobs/a:b", {}),
        ("/jobs/0123456789abcdef0123456789abcdef/results", {}),
    ]
    for path, headers in requests:
        _same(await direct.get(path, headers=headers), await routed.get(path, headers=headers))
    assert counting.seen == before, "a JSON poll or results request went through FastAPI"
    etag = (await routed.get(f"/jobs/{done}")).headers["etag"]
    _same(await direct.get(f"/jobs/{done}", headers={"If-None-Match": etag}),
          await routed.get(f"/jobs/{done}", headers={"If-None-Match": etag}))
    # What is not JSON goes on to FastAPI, where it is answered as before.
    for path, headers in [(f"/jobs/{done}?f=html", {}), (f"/jobs/{done}?f=xml", {}),
                          (f"/jobs/{done}", {"Accept": "image/png"})]:
        seen = counting.seen
        _same(await direct.get(path, headers=headers), await routed.get(path, headers=headers))
        assert counting.seen == seen + 1


async def test_execute_answers_and_refusals_are_the_routed_apps(pair: Any) -> None:
    (direct, counting), routed = pair
    before = counting.seen
    path = "/processes/add/execution"
    refused: list[tuple[str, bytes, dict[str, str]]] = [
        (path, b"{not json", {"Content-Type": "application/json"}),
        (path, b"[1, 2]", {"Content-Type": "application/json"}),
        (path, b'{"inputs": {"a": 1, "b": 2}}', {"Content-Type": "text/plain"}),
        (path, b'{"a": 1, "b": 2}', {"Content-Type": "application/json"}),
        (path, b'{"inputs": {"a": "x", "b": 2}}', {"Content-Type": "application/json"}),
        ("/processes/nope/execution", b'{"inputs": {}}', {"Content-Type": "application/json"}),
        (path, b'{"inputs": {"a": 1, "b": 2}}' + b" " * 300_000,
         {"Content-Type": "application/json"}),
    ]
    for where, body, headers in refused:
        _same(await direct.post(where, content=body, headers=headers),
              await routed.post(where, content=body, headers=headers))
    # A sync execution (answered from the cache the first one fills).
    body = b'{"inputs": {"a": 20, "b": 22}}'
    json_type = {"Content-Type": "application/json"}
    first = await direct.post(path, content=body, headers=json_type)
    assert first.status_code == 200 and first.json() == 42, first.text
    _same(await direct.post(path, content=body, headers=json_type),
          await routed.post(path, content=body, headers=json_type))
    assert counting.seen == before, "an execute request went through FastAPI"
