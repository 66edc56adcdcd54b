"""Callbacks (`subscriber`): the worker POSTs statusInfo, results or the exception."""

from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson

from tests.localhttp import LocalHTTP
from tests.support import start_job, wait_for, wait_job


def _hooks(local_http: LocalHTTP, **fail_first: int) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {uri: local_http.hook(f"{tag}-{uri}", fail_first.get(uri, 0))
            for uri in ("successUri", "inProgressUri", "failedUri")}


def _name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_success_and_in_progress_callbacks(client: httpx.Client,
                                           local_http: LocalHTTP) -> None:
    hooks = _hooks(local_http)
    job_id = start_job(client, "add", {"a": 2, "b": 5}, subscriber=hooks).id
    assert wait_job(client, job_id)["status"] == "successful"
    running = orjson.loads(local_http.wait_for_calls(_name(hooks["inProgressUri"]), 1, 10)[0])
    assert running["jobID"] == job_id and running["status"] == "running"
    results = orjson.loads(local_http.wait_for_calls(_name(hooks["successUri"]), 1, 10)[0])
    assert results == {"sum": 7}
    assert local_http.received[_name(hooks["failedUri"])] == []


def test_failed_callback_carries_the_exception(client: httpx.Client,
                                               local_http: LocalHTTP) -> None:
    hooks = _hooks(local_http)
    job_id = start_job(client, "fail", {"message": "boom for callbacks"}, subscriber=hooks).id
    assert wait_job(client, job_id)["status"] == "failed"
    problem = orjson.loads(local_http.wait_for_calls(_name(hooks["failedUri"]), 1, 10)[0])
    assert problem["detail"] == "boom for callbacks" and problem["type"].startswith("http")


def test_callbacks_are_retried_with_backoff(client: httpx.Client,
                                            local_http: LocalHTTP) -> None:
    hooks = _hooks(local_http, successUri=2)
    job_id = start_job(client, "add", {"a": 1, "b": 1}, subscriber=hooks).id
    assert wait_job(client, job_id)["status"] == "successful"
    calls = local_http.wait_for_calls(_name(hooks["successUri"]), 1, 15)
    assert [orjson.loads(body) for body in calls] == [{"sum": 2}]


class HeldSubscriber:
    """A subscriber that answers no call until the test releases it: the slowest there is."""

    def __init__(self) -> None:
        self.calls: dict[str, list[bytes]] = {}
        self.released = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.calls.setdefault(self.path.lstrip("/"), []).append(body)
                owner.released.wait(120)
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def __enter__(self) -> HeldSubscriber:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def test_a_slow_subscriber_does_not_delay_the_job(client: httpx.Client) -> None:
    """The job answers while its subscriber holds both calls unanswered: the in-progress
    call, made when the job started, was still waiting when the job ended."""
    with HeldSubscriber() as subscriber:
        response = client.post("/processes/add/execution", json={
            "inputs": {"a": 3, "b": 4}, "response": "document",
            "subscriber": {"successUri": subscriber.url("success"),
                           "inProgressUri": subscriber.url("in-progress")}})
        assert response.status_code == 200 and response.json() == {"sum": 7}
        wait_for(lambda: {"success", "in-progress"} <= subscriber.calls.keys(), 30,
                 "both calls to reach the subscriber while it answers none")
    assert orjson.loads(subscriber.calls["in-progress"][0])["status"] == "running"
    assert orjson.loads(subscriber.calls["success"][0]) == {"sum": 7}


def test_a_callback_to_a_refused_address_is_a_bad_request(client: httpx.Client) -> None:
    response = client.post("/processes/add/execution", json={
        "inputs": {"a": 1, "b": 2}, "subscriber": {"successUri": "ftp://example.org/x"}})
    assert response.status_code == 400
    assert "subscriber successUri" in response.json()["detail"]
