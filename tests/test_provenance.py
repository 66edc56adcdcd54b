"""OGC API - Processes - Part 4 (draft 24-051), class `provenance`: `GET /jobs/{id}/inputs`
(what a job ran with, references as fetched) and `GET /jobs/{id}/prov` (W3C PROV-JSON, or
PROV-N), end to end against the real API, workers and Valkey."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openapi_spec_validator
import orjson
import pytest
import redis

from tests.e2e import assert_exception
from tests.gated import Gates, step_gate
from tests.localhttp import LocalHTTP
from tests.support import Processes, Stack, start_job, submit_async, wait_for, wait_job

PROVENANCE = "http://www.opengis.net/spec/ogcapi-processes-4/1.0/conf/provenance"
ASYNC = {"Prefer": "respond-async"}


def json_sha256(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def finished(client: httpx.Client, process_id: str, inputs: dict[str, Any],
             **headers: str) -> str:
    job_id = start_job(client, process_id, inputs,
                       **({"headers": headers} if headers else {})).id
    assert wait_job(client, job_id)["status"] == "successful"
    return job_id


def prov(client: httpx.Client, job_id: str, **headers: str) -> dict[str, Any]:
    response = client.get(f"/jobs/{job_id}/prov", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = response.json()
    return doc


def relations(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return list(doc.get(kind, {}).values())


def sha256_metadata(doc: dict[str, Any]) -> dict[str, str]:
    return {m["title"]: m["value"] for m in doc["metadata"] if m["role"] == "fastproc:sha256"}


# -- inputs ---------------------------------------------------------------------------------

def test_inputs_of_a_job_given_by_value_are_listed_as_given_with_their_digest(
        client: httpx.Client) -> None:
    value = uuid.uuid4().hex
    job_id = finished(client, "echo", {"value": value})
    response = client.get(f"/jobs/{job_id}/inputs")
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["inputs"] == {"value": value}
    assert "outputs" in doc
    assert sha256_metadata(doc) == {"value": json_sha256(value)}


def test_inputs_of_a_job_given_by_reference_say_what_was_fetched(
        client: httpx.Client, local_http: LocalHTTP) -> None:
    data = f"fetched {uuid.uuid4().hex}".encode()
    href = local_http.serve(f"prov-{uuid.uuid4().hex}", data, "text/plain")
    job_id = finished(client, "echo", {"value": {"href": href}})
    doc = client.get(f"/jobs/{job_id}/inputs").json()
    link = doc["inputs"]["value"]
    assert link["href"] == href
    assert link["type"] == "text/plain"
    assert link["length"] == len(data)
    assert link["x-fastproc-sha256"] == hashlib.sha256(data).hexdigest()
    assert sha256_metadata(doc) == {"value": hashlib.sha256(data).hexdigest()}


# -- PROV -----------------------------------------------------------------------------------

def test_prov_of_a_job_has_its_activity_entities_agents_and_relations(
        client: httpx.Client) -> None:
    value = uuid.uuid4().hex
    job_id = finished(client, "echo", {"value": value})
    status = client.get(f"/jobs/{job_id}").json()
    doc = prov(client, job_id)
    base = str(client.base_url).rstrip("/")
    assert doc["prefix"]["job"] == f"{base}/jobs/"
    job = f"job:{job_id}"
    activity = doc["activity"][job]
    assert activity["prov:startTime"] == status["started"]
    assert activity["prov:endTime"] == status["finished"]
    assert activity["fastproc:status"] == "successful"

    given = doc["entity"][f"{job}/inputs/value"]
    assert given["fastproc:sha256"] == json_sha256(value)
    output = doc["entity"][f"{job}/results/value"]
    assert output["fastproc:sha256"] == json_sha256(value)
    plan = doc["entity"]["process:echo/1.0.0"]
    assert plan["prov:type"]["$"] == "prov:Plan"
    assert plan["fastproc:module"] == "workers.examples"
    (worker_id, worker), = doc["agent"].items()
    assert worker["prov:type"]["$"] == "prov:SoftwareAgent"
    assert worker["fastproc:host"] and worker["fastproc:pid"] > 0
    assert worker["fastproc:version"]

    assert {"prov:activity": job, "prov:entity": f"{job}/inputs/value"} in relations(
        doc, "used")
    generated = relations(doc, "wasGeneratedBy")
    assert {"prov:entity": f"{job}/results/value", "prov:activity": job,
            "prov:time": status["finished"]} in generated
    assert {"prov:activity": job, "prov:agent": worker_id,
            "prov:plan": "process:echo/1.0.0"} in relations(doc, "wasAssociatedWith")


def test_prov_of_a_fan_out_job_has_its_parts(client: httpx.Client) -> None:
    words = ["alpha", "beta", "gamma"]
    job_id = finished(client, "batch_upper", {"words": words, "chunk": 1})
    doc = prov(client, job_id)
    job = f"job:{job_id}"
    assert doc["activity"][job]["fastproc:parts"] == 3
    parts = [a for a in doc["activity"] if a.startswith(f"{job}/parts/")]
    assert len(parts) == 3
    digests = {doc["entity"][f"{p}/result"]["fastproc:sha256"] for p in parts}
    assert len(digests) == 3  # three different words, three different results
    informed = relations(doc, "wasInformedBy")
    for part in parts:
        assert {"prov:informed": job, "prov:informant": part} in informed
        assert {"prov:entity": f"{part}/result", "prov:activity": part} in relations(
            doc, "wasGeneratedBy")


def test_prov_of_a_workflow_has_each_nested_process_as_an_activity(
        client: httpx.Client) -> None:
    a = uuid.uuid4().int % 1000
    inputs = {"a": {"process": "add", "inputs": {"a": {"process": "add", "inputs": {
        "a": a, "b": 1}}, "b": 1}}, "b": 1}
    job_id = finished(client, "add", inputs)
    doc = prov(client, job_id)
    job = f"job:{job_id}"
    nested = {i: doc["activity"][i] for i in doc["activity"] if i.startswith(f"{job}/nodes/")}
    assert len(nested) == 2
    for activity in nested.values():
        assert activity["prov:startTime"] <= activity["prov:endTime"]
    informed = relations(doc, "wasInformedBy")
    # The innermost add informed the middle one, which informed the job's own process.
    links = {(r["prov:informed"], r["prov:informant"]) for r in informed}
    (outer,) = [i for i in nested if (job, i) in links]
    (inner,) = [i for i in nested if i != outer]
    assert (outer, inner) in links
    assert doc["entity"][f"{inner}/output"]["fastproc:sha256"] == json_sha256(float(a + 1))
    assert {"prov:activity": outer, "prov:entity": f"{inner}/output"} in relations(
        doc, "used")
    associated = {r["prov:activity"]: r for r in relations(doc, "wasAssociatedWith")}
    assert associated[inner]["prov:plan"] == "process:add/1.0.0"


def test_a_result_from_the_cache_was_generated_by_the_earlier_job(
        client: httpx.Client) -> None:
    value = uuid.uuid4().hex
    first = finished(client, "echo", {"value": value}, **ASYNC)
    second = start_job(client, "echo", {"value": value}, headers=ASYNC)
    assert second.status["status"] == "successful"  # answered from the cache
    doc = prov(client, second.id)
    job = f"job:{second.id}"
    assert doc["activity"][job]["fastproc:answeredFromCache"] is True
    assert {"prov:entity": f"{job}/results/value", "prov:activity": f"job:{first}"} in \
        relations(doc, "wasGeneratedBy")
    assert doc["entity"][f"{job}/results/value"]["fastproc:sha256"] == json_sha256(value)


def test_prov_n_by_accept_and_by_f(client: httpx.Client) -> None:
    job_id = finished(client, "echo", {"value": uuid.uuid4().hex})
    for response in (client.get(f"/jobs/{job_id}/prov",
                                headers={"Accept": "text/provenance-notation"}),
                     client.get(f"/jobs/{job_id}/prov", params={"f": "provn"})):
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/provenance-notation")
        text = response.text
        assert text.startswith("document\n") and text.endswith("endDocument\n")
        assert f"activity(job:{job_id}, " in text
        assert f"wasGeneratedBy(job:{job_id}/results/value, job:{job_id}, " in text
        assert "prov:type='prov:Plan'" in text


@pytest.mark.parametrize(("accept", "served"), [
    ("text/provenance-notation;q=0.5, application/json;q=0.9", "application/json"),
    ("application/json;q=0.2, text/*", "text/provenance-notation"),
    ("text/provenance-notation;q=abc, */*;q=0.1", "application/json"),
    (";;;, ,text/provenance-notation", "text/provenance-notation"),
])
def test_accept_picks_the_format_of_highest_quality_and_survives_junk(
        client: httpx.Client, accept: str, served: str) -> None:
    job_id = finished(client, "echo", {"value": uuid.uuid4().hex})
    response = client.get(f"/jobs/{job_id}/prov", headers={"Accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(served), response.headers


def test_an_unknown_format_is_406(client: httpx.Client) -> None:
    job_id = finished(client, "echo", {"value": uuid.uuid4().hex})
    assert_exception(client.get(f"/jobs/{job_id}/prov", headers={"Accept": "application/xml"}),
                     406, "not-acceptable")
    assert_exception(client.get(f"/jobs/{job_id}/prov", params={"f": "xml"}), 406,
                     "not-acceptable")
    assert_exception(client.get(f"/jobs/{job_id}/inputs", headers={"Accept": "text/csv"}),
                     406, "not-acceptable")


@pytest.mark.parametrize("job_id", ["nope", "0" * 32, "../jobs", "a" * 33,
                                    "%00", "0123456789abcdef0123456789abcdeg"])
def test_what_names_no_job_is_404(client: httpx.Client, job_id: str) -> None:
    for path in ("inputs", "prov"):
        response = client.get(f"/jobs/{job_id}/{path}")
        assert response.status_code == 404, (path, job_id, response.text)


def test_a_running_job_answers_what_is_known_so_far(client: httpx.Client,
                                                    gates: Gates) -> None:
    job_id = submit_async(client, "stepwise", {"gate": gates.path, "steps": 1})
    wait_for(lambda: gates.reached(step_gate(1)), 30, "the job to run")
    doc = prov(client, job_id)
    activity = doc["activity"][f"job:{job_id}"]
    assert activity["fastproc:status"] == "running"
    assert "prov:startTime" in activity and "prov:endTime" not in activity
    assert not [e for e in doc["entity"] if "/results/" in e]
    assert client.get(f"/jobs/{job_id}/inputs").json()["inputs"]["steps"] == 1
    gates.open(step_gate(1))
    assert wait_job(client, job_id)["status"] == "successful"
    ended = prov(client, job_id)
    assert "prov:endTime" in ended["activity"][f"job:{job_id}"]
    # The run's facts (its worker) are written with the step that ends the job.
    assert [a for a in ended["agent"] if "worker/" in a], ended["agent"]


def test_a_created_job_has_inputs_and_an_activity_not_started(client: httpx.Client) -> None:
    created = client.post("/jobs", json={"process": "echo", "inputs": {"value": "x"}})
    assert created.status_code == 201, created.text
    job_id = created.json()["jobID"]
    assert client.get(f"/jobs/{job_id}/inputs").json()["inputs"] == {"value": "x"}
    activity = prov(client, job_id)["activity"][f"job:{job_id}"]
    assert activity["fastproc:status"] == "created" and "prov:startTime" not in activity
    assert client.delete(f"/jobs/{job_id}").status_code == 200


def test_conformance_and_api_declare_provenance(client: httpx.Client) -> None:
    assert PROVENANCE in client.get("/conformance").json()["conformsTo"]
    api = client.get("/api").json()
    openapi_spec_validator.validate(api)
    prov_get = api["paths"]["/jobs/{job_id}/prov"]["get"]
    assert set(prov_get["responses"]["200"]["content"]) >= {
        "application/json", "text/provenance-notation"}
    assert "get" in api["paths"]["/jobs/{job_id}/inputs"]


# -- access control -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(procs: Processes, r: redis.Redis, key_prefix: str) -> Stack:
    return procs.stack(r, key_prefix, FASTPROC_API_KEYS="alice:ka,bob:kb")


@pytest.fixture(scope="module")
def own(stack: Stack) -> Iterator[httpx.Client]:
    with stack.client() as opened:
        yield opened


def test_another_caller_gets_404(own: httpx.Client) -> None:
    alice, bob = {"Authorization": "Bearer ka"}, {"Authorization": "Bearer kb"}
    response = own.post("/processes/echo/execution", json={"inputs": {"value": "mine"}},
                        headers={**alice, "Prefer": "respond-async"})
    assert response.status_code == 201, response.text
    job_id = response.json()["jobID"]
    wait_for(lambda: own.get(f"/jobs/{job_id}", headers=alice).json()["status"]
             == "successful", 30, "the job to end")
    for path in ("inputs", "prov"):
        assert_exception(own.get(f"/jobs/{job_id}/{path}", headers=bob), 404, "no-such-job")
        assert own.get(f"/jobs/{job_id}/{path}", headers=alice).status_code == 200
