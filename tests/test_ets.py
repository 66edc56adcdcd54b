"""What the OGC's Executable Test Suite for OGC API - Processes 1.0 (ets-ogcapi-processes10,
release 1.3) assumes of a server, checked end to end against the test API and worker.

The suite executes one process, `echo`, builds its requests from echo's description and
skips what echo does not offer. `ets_reading` and `ets_generic_inputs` port the few lines of
its Java that decide this (cited by file and line), so a change to echo's description that
would make the suite skip, crash or send something else shows up here. docs/conformance.md
lists every test of the suite and the outcome expected for fastproc.
"""

from __future__ import annotations

import http.client
import json
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.e2e import (
    REL_RESULTS,
    assert_exception,
    json_doc,
    links_by_rel,
    media_type,
    multipart_parts,
    one_link,
    part_bytes,
    show,
    unique,
    unique_int,
    wait_status,
)
from tests.ogc import validate

#: The string the suite puts in every plain string input and looks for in the answers
#: (Jobs.java, TEST_STRING_INPUT).
TESTSTRING = "teststring"
ECHO = "/processes/echo/execution"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: What the suite sends to a bounding-box input (Jobs.java 652-663, addBBoxInput).
ETS_BBOX = {"bbox": [51.9, 7, 52, 7.1], "crs": CRS84}
#: The keywords the suite's process schema allows in an input or output `schema`
#: (api-processes10.yaml 641-771: `additionalProperties: false`).
ETS_SCHEMA_KEYWORDS = frozenset({
    "$ref", "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
    "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "maxProperties", "minProperties", "required", "enum", "type", "not",
    "allOf", "oneOf", "anyOf", "items", "properties", "additionalProperties", "description",
    "format", "default", "nullable", "readOnly", "writeOnly", "example", "deprecated",
    "contentMediaType", "contentEncoding", "contentSchema",
})


@dataclass
class EtsInput:
    """An input or output as CommonFixture.createInput/createOutput (286-454) reads it."""

    id: str
    types: list[str]
    bbox: bool
    schema: dict[str, Any]


def _allof_bbox(schema: dict[str, Any]) -> bool:
    """CommonFixture.java 417-428: every `allOf` member's `format` is read until one is
    `ogc-bbox`; a member without `format` before that is a NullPointerException in the
    suite's set-up, which then fails every test of the Jobs class."""
    for member in schema.get("allOf", []):
        assert "format" in member, f"the suite would crash on allOf member {member}"
        if member["format"] == "ogc-bbox":
            return True
    return False


def ets_reading(doc: dict[str, Any]) -> tuple[list[EtsInput], list[EtsInput]]:
    inputs = []
    for name, description in doc["inputs"].items():
        schema = description["schema"]
        types: list[str] = []
        bbox = False
        branches = [schema] if "type" in schema else schema.get("oneOf", [])
        for branch in branches:
            if "type" not in branch:
                continue
            if branch["type"] == "object" and "bbox" in branch.get("properties", {}):
                bbox = True
            if branch["type"] == "array" and "type" in branch.get("items", {}):
                types.append(branch["items"]["type"])
            types.append(branch["type"])
        if "type" not in schema and "oneOf" not in schema:
            bbox = _allof_bbox(schema)
        inputs.append(EtsInput(name, types, bbox, schema))
    outputs = []
    for name, description in doc["outputs"].items():
        schema = description["schema"]
        kind = schema.get("type")
        outputs.append(EtsInput(name, ["array"] if kind == "array" else [],
                                kind is None and _allof_bbox(schema), schema))
    return inputs, outputs


def ets_generic_inputs(inputs: list[EtsInput]) -> dict[str, Any]:
    """Jobs.java 340-366 (addInput): the inputs of most of the suite's execute requests."""
    sent: dict[str, Any] = {}
    for item in inputs:
        for kind in item.types:
            if kind == "string":
                if "format" not in item.schema and "contentMediaType" not in item.schema:
                    sent[item.id] = TESTSTRING
            elif item.bbox:
                sent[item.id] = {"crs": "urn:ogc:def:crs:EPSG:6.6:4326",
                                 "bbox": [345345345] * 4}
            elif kind == "object":
                sent[item.id] = {"value": TESTSTRING}  # addObjectInput, 988-992
    return sent


def ets_all_outputs(outputs: list[EtsInput]) -> dict[str, Any]:
    """Jobs.java 334-338 (addOutput): every output, by value."""
    return {item.id: {"transmissionMode": "value"} for item in outputs}


@pytest.fixture(scope="module")
def echo_doc(client: httpx.Client) -> dict[str, Any]:
    doc: dict[str, Any] = json_doc(client.get("/processes/echo",
                                              headers={"Accept": "application/json"}), "process")
    return doc


@pytest.fixture(scope="module")
def ets(echo_doc: dict[str, Any]) -> tuple[list[EtsInput], list[EtsInput]]:
    return ets_reading(echo_doc)


def _without_accept(client: httpx.Client, url: str) -> httpx.Response:
    """A GET with no Accept header at all, as the suite's Apache HttpClient sends it."""
    request = client.build_request("GET", url)
    del request.headers["Accept"]
    return client.send(request)


def _post(client: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    return client.post(ECHO, json=body, headers={"Accept": "application/json", **headers})


def _post_as_the_suite(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    """POST with `Prefer: respond-async ` exactly as the suite spells it, trailing space
    included (httpx refuses to send that; http.client sends it as given)."""
    url = client.base_url
    connection = http.client.HTTPConnection(url.host, url.port, timeout=30)
    try:
        connection.request("POST", ECHO, body=json.dumps(body), headers={
            "Content-Type": "application/json", "Accept": "application/json",
            "Prefer": "respond-async "})
        answer = connection.getresponse()
        request = httpx.Request("POST", url.join(ECHO))
        return httpx.Response(answer.status, headers=answer.getheaders(),
                              content=answer.read(), request=request)
    finally:
        connection.close()


def _created(response: httpx.Response) -> tuple[str, str]:
    """(job id, Location) of a 201: Location is absolute (the suite's HttpGet needs a host)
    and exactly `/jobs/{id}`, since the suite appends `/results` to it (Jobs.java 1992)."""
    assert response.status_code == 201, show(response)
    status = validate(response.json(), "statusInfo")
    location = response.headers["location"]
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc) == ("http", response.request.url.netloc.decode()), \
        location
    assert (parts.path, parts.query, parts.fragment) == (f"/jobs/{status['jobID']}", "", ""), \
        location
    return str(status["jobID"]), location


# -- echo's description, as the suite reads it ---------------------------------------------


def test_the_suite_finds_every_input_kind_it_would_otherwise_skip(
    ets: tuple[list[EtsInput], list[EtsInput]],
) -> None:
    inputs, outputs = ets
    first = inputs[0]
    assert (first.id, first.types) == ("value", ["string"]), "the first input is a plain string"
    assert first.id in {o.id for o in outputs}, "raw-value-one asks for the first input's output"
    assert "pause" in {i.id for i in inputs}, "results-not-ready skips without `pause`"
    arrays = [i for i in inputs if "array" in i.types]
    assert arrays, "input-array skips without an array input"
    item_type = next(t for t in arrays[0].types if t != "array")
    assert item_type == "integer", "addArrayInput sends [1, 2, 3] for integers, [] for number"
    assert any("array" in o.types for o in outputs), "input-array asks for an array output"
    assert any(i.bbox for i in inputs), "input-inline-bbox skips without a bbox input"
    assert any(o.bbox for o in outputs), "input-inline-bbox asks for the bbox outputs"
    assert any("object" in i.types for i in inputs), "input-inline-object sends an object"
    assert any("oneOf" in i.schema for i in inputs), "input-mixed-type skips without oneOf"
    assert any("oneOf" in o.schema for o in outputs), "output-mixed-type skips without oneOf"


def test_the_suite_finds_a_media_typed_input_for_its_validation_check(
    ets: tuple[list[EtsInput], list[EtsInput]],
) -> None:
    """testJobCreationInputValidation skips without an input whose schema has a
    `contentMediaType` (checkForFormat, Jobs.java 1375-1381). A binary one would make the
    suite send its GeoTIFF by reference to GitHub (createExecuteJsonNodeWithHref, 1094), a
    `tiff` one would be sent as a GeoTIFF: echo's is text, neither."""
    typed = [item for item in ets[0]
             if any("contentMediaType" in branch
                    for branch in [item.schema, *item.schema.get("oneOf", [])])]
    assert typed, "input-validation skips without a media-typed input"
    for item in ets[0]:
        for branch in [item.schema, *item.schema.get("oneOf", [])]:
            assert "tiff" not in str(branch.get("contentMediaType", "")), item.id
            assert branch.get("contentEncoding") != "binary", item.id
            assert branch.get("format") not in ("byte", "binary"), item.id


def ets_wrong_format_inputs(inputs: list[EtsInput]) -> dict[str, Any]:
    """Jobs.java 1352-1373 (createExecuteJsonNodeWithWrongInput): the generic inputs, and
    `{"type": "wrong/type_…"}` for each media-typed one."""
    sent = ets_generic_inputs(inputs)
    for item in inputs:
        if "contentMediaType" in item.schema:
            sent[item.id] = {"type": f"wrong/type_{uuid.uuid4()}"}
    return sent


def test_the_suites_wrong_format_input_is_a_400_exception(
    client: httpx.Client, ets: tuple[list[EtsInput], list[EtsInput]],
) -> None:
    """The second half of testJobCreationInputValidation (Jobs.java 1225-1266): 400 or 500
    and an exception document naming the input, as `application/json` to a client that
    asks only for that (RFC 7807's type to any other)."""
    inputs, outputs = ets
    body = {"inputs": ets_wrong_format_inputs(inputs), "outputs": ets_all_outputs(outputs)}
    response = _post(client, body)
    assert_exception(response, 400, "InvalidParameterValue", mentions=["text"])
    # The suite asks with `Accept: application/json` and requires that type back (1261).
    assert media_type(response) == "application/json", show(response)
    problem = client.post(ECHO, json=body, headers={"Accept": "application/problem+json"})
    assert media_type(problem) == "application/problem+json", show(problem)
    assert media_type(client.post(ECHO, json=body)) == "application/problem+json"


def _schemas(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(where: str, schema: dict[str, Any]) -> None:
        found.append((where, schema))
        for key in ("allOf", "oneOf", "anyOf"):
            for n, sub in enumerate(schema.get(key, [])):
                walk(f"{where}.{key}[{n}]", sub)
        for key in ("items", "not", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                walk(f"{where}.{key}", schema[key])
        for name, sub in schema.get("properties", {}).items():
            walk(f"{where}.properties.{name}", sub)

    for side in ("inputs", "outputs"):
        for name, description in doc[side].items():
            walk(f"{side}.{name}", description["schema"])
    return found


def test_echo_schemas_use_only_what_the_suites_process_schema_allows(
    echo_doc: dict[str, Any],
) -> None:
    """The suite validates process descriptions against its own copy of the API definition,
    whose Schema Object is closed (additionalProperties: false) and OpenAPI 3.0 flavoured."""
    for where, schema in _schemas(echo_doc):
        assert set(schema) <= ETS_SCHEMA_KEYWORDS, (where, set(schema) - ETS_SCHEMA_KEYWORDS)
        assert isinstance(schema.get("type", ""), str), where
        for flag in ("exclusiveMinimum", "exclusiveMaximum"):
            assert isinstance(schema.get(flag, False), bool), where
        assert schema.get("required", [None]), f"{where}: an empty `required`"


# -- execution, as the suite drives it ------------------------------------------------------


def test_a_value_asked_alone_answers_its_raw_text(client: httpx.Client) -> None:
    response = client.post(ECHO, json={"inputs": {"value": "ok"}, "outputs": {"value": {}}})
    assert response.status_code == 200, show(response)
    assert media_type(response) == "text/plain", show(response)
    assert response.text == "ok"


def test_the_suites_usual_request_answers_one_part_per_given_input(
    client: httpx.Client, ets: tuple[list[EtsInput], list[EtsInput]],
) -> None:
    """Most of the suite's execute tests send this body (createExecuteJsonNode) and, for a
    multipart answer, look for `teststring` in a part (validateMultipartResponse); the
    inputs it leaves out come back as their defaults."""
    inputs = ets_generic_inputs(ets[0])
    assert inputs == {"value": TESTSTRING, "object": {"value": TESTSTRING},
                      "mixed": TESTSTRING}
    response = _post(client, {"inputs": inputs, "outputs": ets_all_outputs(ets[1])})
    assert response.status_code == 200, show(response)
    assert media_type(response) == "multipart/related", show(response)
    parts = {p["Content-ID"]: part_bytes(p) for p in multipart_parts(response)}
    assert list(parts) == [f"<{item.id}>" for item in ets[1]]
    assert {name for name, got in parts.items() if got == TESTSTRING.encode()} == {
        "<value>", "<object>", "<mixed>"}, show(response)


def test_the_suites_object_input_is_read_as_a_qualified_value(
    client: httpx.Client, ets: tuple[list[EtsInput], list[EtsInput]],
) -> None:
    """`{"value": "teststring"}` is what the suite sends to an object input; execute.yaml
    reads an object input value as a qualified value, so the object echoed is its `value`."""
    body = {"inputs": ets_generic_inputs(ets[0]), "response": "document"}
    response = _post(client, body)
    doc = json_doc(response, "results")
    assert {name: doc[name] for name in ("value", "object", "mixed")} == {
        "value": TESTSTRING, "object": TESTSTRING, "mixed": TESTSTRING}


ROUND_TRIPS = [
    pytest.param("array", [unique_int(), 2, 3], id="array"),
    pytest.param("bbox", ETS_BBOX, id="bbox"),
    pytest.param("bbox", {"bbox": [0, 0, 0, 1.5, 2.5, 10]}, id="bbox-3d-no-crs"),
    pytest.param("object", {"key": unique(), "nested": {"list": [True, None, 1.5]}},
                 id="object"),
    pytest.param("mixed", unique("mixed"), id="mixed-string"),
    pytest.param("mixed", unique_int() + 0.25, id="mixed-number"),
    pytest.param("mixed", False, id="mixed-boolean"),
]


@pytest.mark.parametrize(("name", "value"), ROUND_TRIPS)
def test_each_input_comes_back_raw_as_the_output_of_its_id(
    client: httpx.Client, name: str, value: Any,
) -> None:
    body = {"inputs": {"value": unique(), name: value},
            "outputs": {name: {"transmissionMode": "value"}}, "response": "raw"}
    response = _post(client, body)
    assert response.status_code == 200, show(response)
    if isinstance(value, str):
        assert (media_type(response), response.text) == ("text/plain", value), show(response)
    else:
        assert media_type(response) == "application/json", show(response)
        assert response.json() == value


@pytest.mark.parametrize(("name", "value"), ROUND_TRIPS)
def test_each_input_comes_back_in_the_results_document(
    client: httpx.Client, name: str, value: Any,
) -> None:
    text = unique()
    body = {"inputs": {"value": text, name: value}, "outputs": {"value": {}, name: {}},
            "response": "document"}
    doc = json_doc(_post(client, body), "results")
    assert {key: _unqualified(v) for key, v in doc.items()} == {"value": text, name: value}


def _unqualified(value: Any) -> Any:
    """The value of a qualified value (`{"value": ...}`), anything else as it is."""
    if isinstance(value, dict) and "value" in value and set(value) <= {
            "value", "mediaType", "encoding", "schema"}:
        return value["value"]
    return value


def test_an_object_wrapped_as_a_qualified_value_comes_back_unwrapped(
    client: httpx.Client,
) -> None:
    inner = {"key": unique(), "value": "a member named value"}
    body = {"inputs": {"value": unique(), "object": {"value": inner}},
            "outputs": {"object": {}}}
    response = _post(client, body)
    assert response.status_code == 200, show(response)
    assert response.json() == inner


def test_outputs_asked_for_but_not_given_are_their_defaults(client: httpx.Client) -> None:
    """The suite asks for every output while giving only some inputs: echo answers each,
    the inputs not given as their defaults."""
    text = unique()
    body = {"inputs": {"value": text, "array": [1]},
            "outputs": {"value": {}, "array": {}, "mixed": {}}, "response": "document"}
    assert json_doc(_post(client, body), "results") == {"value": text, "array": [1], "mixed": ""}


def test_a_wrong_value_for_an_input_is_an_invalid_parameter_value(
    client: httpx.Client,
) -> None:
    """The suite's wrong-format check sends `{"type": "wrong/type_…"}` (Jobs.java 1369)."""
    body = {"inputs": {"value": {"type": f"wrong/type_{uuid.uuid4()}"}}}
    assert_exception(_post(client, body), 400, "InvalidParameterValue", mentions=["value"])


def test_the_suites_invalid_execute_request_is_an_exception(client: httpx.Client) -> None:
    """testJobResultsFailed posts this body and wants an error status and exception.yaml."""
    assert_exception(_post(client, {"invalid-execute-request": "true)"}), 400)


# -- jobs ----------------------------------------------------------------------------------


def test_an_async_job_is_at_jobs_id_and_its_status_needs_no_accept_header(
    client: httpx.Client,
) -> None:
    """testJobCreationOp and testJobSuccess send `Prefer: respond-async ` (trailing space)
    and fetch the Location without an Accept header (the header goes on the wrong request,
    Jobs.java 1442-1443)."""
    job_id, location = _created(_post_as_the_suite(client, {"inputs": {"value": unique()}}))
    status = _without_accept(client, location)
    assert status.status_code == 200, show(status)
    assert media_type(status) == "application/json", show(status)
    doc = validate(status.json(), "statusInfo")
    assert (doc["jobID"], doc["type"], doc["processID"]) == (job_id, "process", "echo")


def test_a_finished_jobs_results_link_answers_the_raw_value_without_accept(
    client: httpx.Client,
) -> None:
    """testJobResultsAsyncRawValueOne follows `monitor` links until a results link shows,
    then fetches it with no Accept header and looks for the string it sent."""
    text = unique()
    body = {"inputs": {"value": text, "object": {"value": TESTSTRING}},
            "outputs": {"value": {"transmissionMode": "value"}}, "response": "raw"}
    response = _post(client, body, Prefer="respond-async")
    _, location = _created(response)
    first = response.json()
    assert first["status"] == "successful" or links_by_rel(first, "monitor"), first
    done = wait_status(client, location, "successful")
    results = _without_accept(client, one_link(done, REL_RESULTS)["href"])
    assert (results.status_code, results.text) == (200, text), show(results)


def _running(client: httpx.Client, location: str) -> dict[str, Any]:
    return wait_status(client, location, "running")


def test_results_are_not_ready_while_pause_runs(client: httpx.Client) -> None:
    """testJobResultsExceptionResultsNotReady: `pause` keeps the job running, and its
    results answer 404 with the OGC `result-not-ready` type meanwhile."""
    body = {"inputs": {"value": unique(), "pause": 60},
            "outputs": {"value": {"transmissionMode": "value"}}, "response": "raw"}
    _, location = _created(_post(client, body, Prefer="respond-async"))
    _running(client, location)
    for url in (f"{location}/results", f"{location}/results/value"):
        answer = client.get(url, headers={"Accept": "application/json"})
        assert_exception(answer, 404, "result-not-ready")
    dismissed = json_doc(client.delete(location), "statusInfo")
    assert dismissed["status"] == "dismissed", dismissed


def test_a_paused_echo_still_echoes(client: httpx.Client) -> None:
    text = unique("paused")
    response = _post(client, {"inputs": {"value": text, "pause": 1},
                              "outputs": {"value": {}}})
    assert (response.status_code, response.text) == (200, text), show(response)


def test_the_same_pause_request_again_is_still_not_ready_at_first(
    client: httpx.Client,
) -> None:
    """The suite always sends the same pause request, so a second run of it within the cache
    TTL meets a finished job: its results-not-ready test then fails."""
    body = {"inputs": {"value": unique(), "pause": 5},
            "outputs": {"value": {"transmissionMode": "value"}}, "response": "raw"}
    _, first = _created(_post(client, body, Prefer="respond-async"))
    wait_status(client, first, "successful")
    _, again = _created(_post(client, body, Prefer="respond-async"))
    try:
        answer = client.get(f"{again}/results", headers={"Accept": "application/json"})
        assert_exception(answer, 404, "result-not-ready")
    finally:
        client.delete(again)


@pytest.mark.parametrize("path", ["/jobs/invalid-job-{id}", "/jobs/invalid-job-{id}/results"])
def test_an_unknown_job_and_its_results_are_no_such_job(client: httpx.Client,
                                                        path: str) -> None:
    url = path.format(id=uuid.uuid4())
    assert_exception(client.get(url, headers={"Accept": "application/json"}), 404,
                     "no-such-job")


def test_the_job_list_shows_echo_jobs_in_the_1_0_shape(client: httpx.Client) -> None:
    _created(_post(client, {"inputs": {"value": unique()}}, Prefer="respond-async"))
    doc = json_doc(client.get("/jobs", params={"processID": "echo"},
                              headers={"Accept": "application/json"}), "jobList")
    assert doc["jobs"], json.dumps(doc)[:500]
    assert {(job["type"], job["processID"]) for job in doc["jobs"]} == {("process", "echo")}
