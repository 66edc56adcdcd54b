"""Outputs are a process's data, possibly HTML, SVG or XHTML with script in it: every answer
that carries them is sent with `Content-Security-Policy: sandbox` and
`X-Content-Type-Options: nosniff`, so a browser that opens one runs none of its script with
the API's origin. That holds for a sync execution (raw, several outputs, document), for an
answer from the cache, for a job's results in each form asked for, for one output, and for
an output stored apart; through the direct dispatch (the real server) and through FastAPI's
routes (the same app without the dispatch). Real worker and Valkey."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis

from fastproc.api.app import create_app
from fastproc.api.direct import DirectRoutes
from fastproc.settings import Settings
from tests.e2e import media_type, show
from tests.preview_processes import SCRIPTED_BIG
from tests.support import Processes, Stack, start_job, wait_job

PROCESS = "scripted_outputs"
#: Each output of the process and the media type it is sent in (`big` is stored apart).
OUTPUTS = {"page": "text/html", "drawing": "image/svg+xml", "xhtml": "application/xhtml+xml",
           "big": "text/html"}
EXECUTE = f"/processes/{PROCESS}/execution"
NO_CACHE = {"Cache-Control": "no-cache"}
MULTIPART = "multipart/related"
JSON = "application/json"


@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_PROCESSES="tests.preview_processes",
                       FASTPROC_INLINE_OUTPUT_BYTES=str(SCRIPTED_BIG // 2))


@pytest.fixture(scope="module")
def direct(stack: Stack) -> Iterator[httpx.Client]:
    """The real server, whose direct dispatch answers execute and results requests."""
    with stack.client(timeout=30) as client:
        yield client


@pytest.fixture
async def routed(stack: Stack, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same app without the direct dispatch: every request goes through FastAPI."""
    settings = Settings(redis_url=redis_url, key_prefix=stack.prefix,
                        queue_name=stack.env["FASTPROC_QUEUE_NAME"], sync_wait=20)
    app = create_app(settings)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not DirectRoutes]
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000",
            timeout=30) as client:
        yield client


def _inputs(name: str | None = None) -> dict[str, Any]:
    """The inputs that make the process produce output `name` (all but `big` when None)."""
    return {"big": True} if name == "big" else {}


@pytest.fixture(scope="module")
def jobs(direct: httpx.Client) -> dict[str, str]:
    """Finished jobs by what they were asked for: one output raw each, all of them raw
    (multipart), all of them in a document."""
    bodies: dict[str, dict[str, Any]] = {
        **{name: {"inputs": _inputs(name), "response": "raw", "outputs": {name: {}}}
           for name in OUTPUTS},
        MULTIPART: {"inputs": {}, "response": "raw"},
        JSON: {"inputs": {}, "response": "document"}}
    found = {}
    for what, body in bodies.items():
        job = start_job(direct, PROCESS, **body)
        assert wait_job(direct, job.id)["status"] == "successful"
        found[what] = job.id
    return found


@dataclass(frozen=True)
class Ask:
    """A request whose answer carries outputs, and what it must answer."""

    method: str
    path: str
    expected: str
    body: dict[str, Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    #: Answered by a job the request made (True), from the cache (False), or neither.
    computed: bool | None = None

    def check(self, response: httpx.Response) -> None:
        assert response.status_code == 200, f"{self}: {show(response)}"
        assert media_type(response) == self.expected, f"{self}: {show(response)}"
        assert response.headers.get("content-security-policy") == "sandbox", \
            f"{self}: {response.headers}"
        assert response.headers.get("x-content-type-options") == "nosniff", \
            f"{self}: {response.headers}"
        if self.computed is not None:
            monitored = 'rel="monitor"' in response.headers.get("link", "")
            assert monitored is self.computed, f"{self}: {response.headers}"


def asks(jobs: dict[str, str]) -> list[Ask]:
    found: list[Ask] = []
    for name, expected in OUTPUTS.items():
        raw = {"inputs": _inputs(name), "response": "raw", "outputs": {name: {}}}
        results = f"/jobs/{jobs[name]}/results"
        found.append(Ask("POST", EXECUTE, expected, raw, headers=NO_CACHE, computed=True))
        if name != "big":  # a result with an output stored apart is not cached
            found.append(Ask("POST", EXECUTE, expected, raw, computed=False))
        found += [
            Ask("GET", results, expected), Ask("GET", results, expected, params={"f": "json"}),
            Ask("GET", results, expected, headers={"Accept": JSON}),
            Ask("GET", f"{results}/{name}", expected),
        ]
    for expected, response in [(MULTIPART, "raw"), (JSON, "document")]:
        every = {"inputs": {}, "response": response}
        results = f"/jobs/{jobs[expected]}/results"
        found += [Ask("POST", EXECUTE, expected, every, headers=NO_CACHE, computed=True),
                  Ask("POST", EXECUTE, expected, every, computed=False),
                  Ask("GET", results, expected),
                  Ask("GET", results, expected, params={"f": "json"})]
    return found


def test_every_answer_with_outputs_is_sandboxed_through_the_direct_dispatch(
        direct: httpx.Client, jobs: dict[str, str]) -> None:
    for ask in asks(jobs):
        ask.check(direct.request(ask.method, ask.path, json=ask.body, params=ask.params,
                                 headers=ask.headers))


@pytest.mark.anyio
async def test_every_answer_with_outputs_is_sandboxed_through_fastapis_routes(
        routed: httpx.AsyncClient, jobs: dict[str, str]) -> None:
    for ask in asks(jobs):
        ask.check(await routed.request(ask.method, ask.path, json=ask.body,
                                       params=ask.params, headers=ask.headers))


def test_a_scripted_output_is_sent_as_the_process_made_it(
        direct: httpx.Client, jobs: dict[str, str]) -> None:
    """What the headers guard is really there: the script, and the large output whole."""
    for name in OUTPUTS:
        answer = direct.get(f"/jobs/{jobs[name]}/results")
        assert b"document.title" in answer.content, name
    assert len(direct.get(f"/jobs/{jobs['big']}/results").content) == SCRIPTED_BIG
