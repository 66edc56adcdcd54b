"""With access control on, a caller (or a page one of them visits) cannot act through
another site, a forged Host, or a key meant for something else; and the API document says
which operations need a key and how it is sent.

Self-contained: a stack of its own (worker and API on a fresh prefix) with two callers
and a metrics key.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import openapi_spec_validator
import pytest
import redis

from tests.e2e import assert_exception
from tests.support import Processes, Stack, wait_job

KEYS = {"alice": "alice-key-6d0e", "bob": "bob-key-91a4"}
METRICS_KEY = "scraper-key-2b7f"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def tenants(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix,
                       FASTPROC_API_KEYS=",".join(f"{n}:{k}" for n, k in KEYS.items()),
                       FASTPROC_METRICS_KEY=METRICS_KEY)


def _as(stack: Stack, key: str | None, **headers: str) -> httpx.Client:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=stack.url, headers={**auth, **headers}, timeout=20)


def _job_ids(client: httpx.Client) -> set[str]:
    listed = client.get("/jobs", params={"limit": 1000})
    assert listed.status_code == 200, listed.text
    return {job["jobID"] for job in listed.json()["jobs"]}


# -- cross-site form posts -------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": EVIL},
                                     {"Referer": f"{EVIL}/x"}])
def test_a_cross_site_form_post_is_refused_even_with_a_valid_key(
    tenants: Stack, headers: dict[str, str],
) -> None:
    with _as(tenants, KEYS["alice"]) as alice:
        before = _job_ids(alice)
        response = alice.post("/processes/echo/execution/form", data={"value": "x"},
                              headers=headers)
        assert_exception(response, 403, "forbidden")
        assert _job_ids(alice) == before


def test_a_same_origin_form_post_runs_as_the_caller_of_its_key(tenants: Stack) -> None:
    with _as(tenants, KEYS["alice"]) as alice, _as(tenants, KEYS["bob"]) as bob:
        response = alice.post("/processes/echo/execution/form", data={"value": "mine"},
                              headers={"Sec-Fetch-Site": "same-origin"})
        assert response.status_code == 303, response.text
        job_id = response.headers["location"].split("/jobs/")[1].split("?")[0]
        assert wait_job(alice, job_id)["status"] == "successful"
        assert bob.get(f"/jobs/{job_id}").status_code == 404


def test_a_cross_site_dismiss_form_is_refused_even_for_the_owner(tenants: Stack) -> None:
    with _as(tenants, KEYS["alice"]) as alice:
        created = alice.post("/processes/sleep/execution", json={"inputs": {"seconds": 30}},
                             headers={"Prefer": "respond-async"})
        assert created.status_code == 201, created.text
        job_id = created.json()["jobID"]
        refused = alice.post(f"/jobs/{job_id}/dismiss", headers={"Origin": EVIL})
        assert_exception(refused, 403, "forbidden")
        assert alice.get(f"/jobs/{job_id}").json()["status"] in ("accepted", "running")
        assert alice.delete(f"/jobs/{job_id}").status_code == 200


# -- hosts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [KEYS["alice"], None])
def test_a_forged_host_is_refused_before_anything_else(tenants: Stack, key: str | None) -> None:
    with _as(tenants, key, Host="evil.example") as client:
        for response in (client.get("/processes"),
                         client.post("/processes/echo/execution",
                                     json={"inputs": {"value": "x"}},
                                     headers={"Prefer": "respond-async"}),
                         client.get("/api.html")):
            assert_exception(response, 400, "invalid-request")
            assert "location" not in response.headers
            assert "evil.example" not in response.text


def test_the_default_trusted_hosts_keep_local_use_working(tenants: Stack) -> None:
    port = tenants.url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
        with _as(tenants, KEYS["alice"], Host=host) as client:
            created = client.post("/processes/echo/execution",
                                  json={"inputs": {"value": "here"}},
                                  headers={"Prefer": "respond-async"})
            assert created.status_code == 201, created.text
            assert created.headers["location"].startswith(f"http://{host}/jobs/")


# -- the API document and the keys it declares -----------------------------------------------


def _document(stack: Stack) -> dict[str, Any]:
    with _as(stack, None) as client:
        response = client.get("/api")
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def test_the_api_document_declares_how_keys_are_sent(tenants: Stack) -> None:
    doc = _document(tenants)
    openapi_spec_validator.validate(doc)
    schemes = doc["components"]["securitySchemes"]
    assert {"type": "http", "scheme": "bearer"}.items() <= schemes["bearerAuth"].items()
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"}.items() \
        <= schemes["apiKeyHeader"].items()
    execute = doc["paths"]["/processes/{process_id}/execution"]["post"]
    assert {"bearerAuth": []} in execute["security"]
    assert {"apiKeyHeader": []} in execute["security"]
    assert "401" in execute["responses"]
    assert "security" not in doc["paths"]["/processes"]["get"]
    assert "security" in doc["paths"]["/metrics"]["get"]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "echo" if m.group(0) == "{process_id}" else "x1",
                  path)


def test_every_operation_the_document_secures_answers_401_without_a_key_and_no_other(
    tenants: Stack,
) -> None:
    doc = _document(tenants)
    checked = 0
    with _as(tenants, None) as anonymous:
        for path, item in doc["paths"].items():
            for method, operation in item.items():
                if method not in ("get", "post", "patch", "delete"):
                    continue
                kwargs: dict[str, Any] = {"json": {"inputs": {"value": "x"}}} \
                    if method in ("post", "patch") else {}
                # Streamed: event streams (job events, the dashboard's) never end.
                with anonymous.stream(method.upper(), _concrete(path), **kwargs) as response:
                    status = response.status_code
                secured = "security" in operation
                assert (status == 401) == secured, (method, path, status)
                checked += 1
    assert checked >= 10


def test_metrics_need_their_own_key_not_a_callers(tenants: Stack) -> None:
    for headers in ({}, {"Authorization": f"Bearer {KEYS['alice']}"},
                    {"X-API-Key": KEYS["bob"]}):
        with httpx.Client(base_url=tenants.url, headers=headers, timeout=20) as client:
            response = client.get("/metrics")
            assert_exception(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for headers in ({"Authorization": f"Bearer {METRICS_KEY}"}, {"X-API-Key": METRICS_KEY}):
        with httpx.Client(base_url=tenants.url, headers=headers, timeout=20) as client:
            scraped = client.get("/metrics")
            assert scraped.status_code == 200, scraped.text
            assert "fastproc_queue_depth" in scraped.text
