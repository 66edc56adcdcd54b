"""HTML for every resource (OGC API - Processes 1.0, conformance class html): pages are
text/html, show the links of the JSON form as `<a>` elements, escape what they show, and
JSON stays the default for every client that is not a browser. Also the "try it" forms: a
form post builds the execute request, queues it like `Prefer: respond-async` and answers 303.
"""

from __future__ import annotations

import html
import io
import json
import re
import subprocess
import sys
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.datastructures import FormData, Headers, UploadFile

from fastproc.api.html.forms import Kind, fields_of, inputs_from_form, needs_multipart
from fastproc.api.html.schemas import schema_text
from fastproc.ogc.exceptions import InvalidParameterValue
from fastproc.ogc.models import InputDescription, ProcessDescription
from tests.e2e import (
    ASYNC,
    REL_RESULTS,
    assert_exception,
    json_doc,
    media_type,
    one_link,
    show,
    unique,
    unique_int,
    wait_finished,
    wait_status,
)
from tests.support import ASYNC_FRESH, start_job, submit_async, wait_job

#: What Chromium sends when it navigates to a page.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                     "image/webp,image/apng,*/*;q=0.8"}
RESOURCES = ["/", "/conformance", "/processes", "/processes/sleep", "/processes/solid_png",
             "/jobs", "/jobs?processID=echo&limit=5"]


class Page(HTMLParser):
    """The parts of a page the tests read: every URL it refers to, and its visible text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.assets: list[str] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a" and found.get("href"):
            self.anchors.append(found)
        if tag in ("script", "img") and found.get("src"):
            self.assets.append(str(found["src"]))
        if tag == "link" and found.get("rel") == "stylesheet":
            self.assets.append(str(found["href"]))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def hrefs(self) -> set[str]:
        return {str(a["href"]) for a in self.anchors}


def html_page(response: httpx.Response, status: int = 200) -> Page:
    assert response.status_code == status, show(response)
    assert media_type(response) == "text/html", show(response)
    assert response.text.lstrip().lower().startswith("<!doctype html>"), show(response)
    return Page(response.text)


def all_links(doc: Any) -> list[dict[str, Any]]:
    """Every link of a document, those of its processes and jobs included."""
    if isinstance(doc, list):
        return [link for item in doc for link in all_links(item)]
    if not isinstance(doc, dict):
        return []
    found = list(doc.get("links", []))
    for key in ("processes", "jobs"):
        found += all_links(doc.get(key, []))
    return found


@pytest.fixture(scope="module")
def finished_job(client: httpx.Client) -> str:
    location = start_job(client, "echo", {"value": unique("page")}, headers=ASYNC).location
    wait_status(client, location, "successful")
    return location


# -- negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Accept": "*/*"}, {"Accept": "application/json"},
                                     {"Accept": "application/json, text/html"},
                                     {"Accept": "text/html;q=0.5, application/json"}],
                         ids=["no-accept", "any", "json", "json-and-html", "json-preferred"])
@pytest.mark.parametrize("path", RESOURCES)
def test_json_stays_the_default_for_clients_that_are_not_browsers(
    client: httpx.Client, path: str, headers: dict[str, str],
) -> None:
    json_doc(client.get(path, headers=headers), None)


@pytest.mark.parametrize("path", RESOURCES)
def test_a_browser_gets_html(client: httpx.Client, path: str) -> None:
    html_page(client.get(path, headers=BROWSER))


@pytest.mark.parametrize("path", RESOURCES)
def test_f_html_gets_html_and_f_json_wins_over_a_browsers_accept(
    client: httpx.Client, path: str,
) -> None:
    html_page(client.get(path, params={"f": "html"}, headers={"Accept": "application/json"}))
    json_doc(client.get(path, params={"f": "json"}, headers=BROWSER), None)


def test_job_status_and_results_have_pages(client: httpx.Client, finished_job: str) -> None:
    html_page(client.get(finished_job, headers=BROWSER))
    html_page(client.get(f"{finished_job}/results", headers=BROWSER))
    json_doc(client.get(finished_job), "statusInfo")


def test_results_asked_for_in_an_outputs_media_type_are_not_a_page(
    client: httpx.Client,
) -> None:
    location = start_job(client, "squares_csv", {"n": 2}, headers=ASYNC_FRESH).location
    wait_status(client, location, "successful")
    response = client.get(f"{location}/results", headers={"Accept": "text/csv"})
    assert response.status_code == 200 and response.text == "n,square\n0,0\n1,1\n", show(response)


def test_html_is_a_conformance_class_now(client: httpx.Client) -> None:
    doc = json_doc(client.get("/conformance"), "confClasses")
    assert "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/html" in doc["conformsTo"]


# -- pages show the resource's links -------------------------------------------------------


@pytest.mark.parametrize("path", RESOURCES)
def test_each_page_links_where_its_json_links(client: httpx.Client, path: str) -> None:
    doc = json_doc(client.get(path), None)
    page = html_page(client.get(path, headers=BROWSER))
    wanted = {link["href"] for link in all_links(doc) if link["rel"] != "alternate"}
    assert wanted <= page.hrefs, f"missing on the page: {sorted(wanted - page.hrefs)}"
    if path == "/conformance":
        assert set(doc["conformsTo"]) <= page.hrefs


def test_job_and_results_pages_link_where_the_status_links(
    client: httpx.Client, finished_job: str,
) -> None:
    doc = json_doc(client.get(finished_job), "statusInfo")
    page = html_page(client.get(finished_job, headers=BROWSER))
    wanted = {link["href"] for link in doc["links"] if link["rel"] != "alternate"}
    assert wanted <= page.hrefs, sorted(wanted - page.hrefs)
    results = html_page(client.get(one_link(doc, REL_RESULTS)["href"], headers=BROWSER))
    assert f"{finished_job}/results/value" in results.hrefs
    assert finished_job in results.hrefs


@pytest.mark.parametrize("path", ["/", "/processes", "/processes/echo", "/jobs"])
def test_each_form_links_the_other_as_alternate(client: httpx.Client, path: str) -> None:
    doc = json_doc(client.get(path), None)
    alternate = one_link(doc, "alternate")
    assert alternate["type"] == "text/html"
    page = html_page(client.get(alternate["href"]))
    back = [a for a in page.anchors if a.get("rel") == "alternate"]
    assert len(back) == 1 and back[0]["type"] == "application/json", back
    json_doc(client.get(str(back[0]["href"])), None)


def test_the_job_list_filters_by_process_and_status(
    client: httpx.Client, finished_job: str,
) -> None:
    other = start_job(client, "add", {"a": unique_int(), "b": 1}, headers=ASYNC).location
    wait_finished(client, other)
    query: dict[str, str | int] = {"processID": "echo", "status": "successful", "limit": 500}
    page = html_page(client.get("/jobs", params=query, headers=BROWSER))
    listed = json_doc(client.get("/jobs", params=query), "jobList")["jobs"]
    assert finished_job in page.hrefs
    assert other not in page.hrefs
    assert {job["processID"] for job in listed} == {"echo"}
    shown = {href for href in page.hrefs if re.fullmatch(r".*/jobs/[0-9a-f]{32}", href)}
    assert shown == {one_link(job, "self")["href"] for job in listed}


# -- escaping, errors ----------------------------------------------------------------------


def test_values_are_escaped_on_every_page(client: httpx.Client) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    location = start_job(client, "echo", {"value": evil + unique()}, headers=ASYNC).location
    wait_status(client, location, "successful")
    for url in (f"{location}/results", "/jobs?processID=echo&limit=500"):
        response = client.get(url, headers=BROWSER)
        html_page(response)
        assert "<script>alert" not in response.text and "<img src=x" not in response.text
    assert "&lt;script&gt;alert" in client.get(f"{location}/results", headers=BROWSER).text


def test_errors_are_pages_for_browsers_and_exceptions_for_the_rest(
    client: httpx.Client,
) -> None:
    page = html_page(client.get("/processes/nope", headers=BROWSER), status=404)
    assert "no-such-process" in " ".join(page.hrefs)
    assert "nope" in " ".join(page.text)
    assert_exception(client.get("/processes/nope"), 404, "no-such-process")
    html_page(client.get("/jobs", params={"limit": "0"}, headers=BROWSER), status=400)


@pytest.mark.parametrize("path", ["/", "/processes", "/jobs"])
def test_formats_other_than_json_and_html_are_406(client: httpx.Client, path: str) -> None:
    assert_exception(client.get(path, params={"f": "xml"}, headers=BROWSER), 406)
    assert_exception(client.get(path, headers={"Accept": "application/xml"}), 406)


# -- API documentation ---------------------------------------------------------------------


def test_the_api_definition_stays_json_for_browsers(client: httpx.Client) -> None:
    response = client.get("/api", headers=BROWSER)
    assert response.status_code == 200, show(response)
    assert media_type(response).startswith("application/vnd.oai.openapi+json"), show(response)
    html_page(client.get("/api", params={"f": "html"}))


def test_api_docs_load_only_packaged_assets(client: httpx.Client) -> None:
    page = html_page(client.get("/api.html"))
    base = str(client.base_url).rstrip("/")
    assert len(page.assets) >= 3, page.assets
    for asset in page.assets:
        assert asset.startswith(f"{base}/static/"), f"{asset} is not served by fastproc"
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 100, show(response)


def test_the_api_definition_offers_html_beside_json(client: httpx.Client) -> None:
    doc = client.get("/api").json()
    for path in ("/", "/conformance", "/processes", "/processes/{process_id}", "/jobs",
                 "/jobs/{job_id}"):
        operation = doc["paths"][path]["get"]
        content = operation["responses"]["200"]["content"]
        assert {"application/json", "text/html"} <= set(content), (path, sorted(content))
        assert any(p["name"] == "f" and p["in"] == "query" for p in operation["parameters"])


# -- try it: forms -------------------------------------------------------------------------


def _post_form(client: httpx.Client, process_id: str, **kwargs: Any) -> httpx.Response:
    return client.post(f"/processes/{process_id}/execution/form", headers=BROWSER, **kwargs)


def _job_of(response: httpx.Response) -> str:
    assert response.status_code == 303, show(response)
    location = response.headers["location"]
    assert "/jobs/" in location and location.endswith("?f=html"), location
    return location.removesuffix("?f=html")


def test_a_form_post_starts_an_async_job_and_answers_303_to_its_page(
    client: httpx.Client,
) -> None:
    value = unique("form")
    job = _job_of(_post_form(client, "echo", data={"value": value}))
    status = wait_status(client, job, "successful")
    assert status["processID"] == "echo"
    assert client.get(f"{job}/results/value").text == value
    html_page(client.get(f"{job}?f=html"))


def test_numbers_from_a_form_are_numbers(client: httpx.Client) -> None:
    a = unique_int()
    job = _job_of(_post_form(client, "add", data={"a": str(a), "b": "0.5"}))
    wait_status(client, job, "successful")
    assert client.get(f"{job}/results").json() == a + 0.5


def test_a_file_input_is_posted_as_multipart_and_sent_base64(client: httpx.Client) -> None:
    data = unique("bytes").encode() + bytes(range(256))
    job = _job_of(_post_form(client, "byte_stats",
                             files={"data": ("blob.bin", data, "application/octet-stream")}))
    wait_status(client, job, "successful")
    response = client.get(f"{job}/results", headers={"Accept": "application/json"})
    assert response.status_code == 200, show(response)
    assert f"{zlib.crc32(data)}" in response.text and f"{len(data)}" in response.text


def test_the_process_page_draws_a_form_for_its_inputs(client: httpx.Client) -> None:
    response = client.get("/processes/solid_png", headers=BROWSER)
    page = html_page(response)
    assert 'action="' + str(client.base_url).rstrip("/") \
        + '/processes/solid_png/execution/form"' in response.text
    assert 'type="number" id="input-width" name="width" step="1" value="16" min="1" ' \
           'max="4096"' in response.text
    assert 'pattern="^#[0-9a-fA-F]{6}$"' in response.text
    assert page.hrefs


def test_a_form_value_that_does_not_parse_is_a_400_page(client: httpx.Client) -> None:
    response = _post_form(client, "sleep", data={"seconds": "soon"})
    page = html_page(response, status=400)
    assert "seconds" in " ".join(page.text)


def test_a_form_value_out_of_bounds_is_refused_by_the_process_schema(
    client: httpx.Client,
) -> None:
    response = client.post("/processes/sleep/execution/form", data={"seconds": "-1"})
    assert_exception(response, 400, "InvalidParameterValue", mentions=["seconds"])


def test_the_dismiss_button_dismisses_a_running_job(client: httpx.Client) -> None:
    location = start_job(client, "sleep", {"seconds": 60}, headers=ASYNC).location
    response = client.post(f"{location}/dismiss", headers=BROWSER)
    assert response.status_code == 303, show(response)
    assert response.headers["location"] == f"{location}?f=html"
    assert json_doc(client.get(location), "statusInfo")["status"] == "dismissed"


# -- the form builder, without a server ----------------------------------------------------


def _description(**inputs: dict[str, Any]) -> ProcessDescription:
    return ProcessDescription(id="p", inputs={
        name: InputDescription(schema=schema, minOccurs=0 if name.startswith("opt") else 1)
        for name, schema in inputs.items()})


SCHEMAS: dict[str, dict[str, Any]] = {
    "text": {"type": "string", "maxLength": 5},
    "count": {"type": "integer", "minimum": 0, "exclusiveMaximum": True, "maximum": 10},
    "ratio": {"type": "number", "default": 0.5},
    "flag": {"type": "boolean", "default": True},
    "colour": {"type": "string", "enum": ["red", "green"]},
    "words": {"type": "array", "items": {"type": "string"}},
    "sizes": {"type": "array", "items": {"type": "integer"}},
    "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}},
    "blob": {"type": "string", "format": "binary", "contentMediaType": "image/png"},
    "shape": {"type": "object", "properties": {"x": {"type": "number"}}},
    "opt_text": {"type": "string"},
}


def test_each_schema_gets_the_field_that_fits_it() -> None:
    fields = {f.name: f for f in fields_of(_description(**SCHEMAS))}
    kinds = {name: f.kind for name, f in fields.items()}
    assert kinds == {
        "text": Kind.TEXT, "count": Kind.INTEGER, "ratio": Kind.NUMBER, "flag": Kind.BOOLEAN,
        "colour": Kind.SELECT, "words": Kind.LINES, "sizes": Kind.LINES,
        "tags": Kind.MULTISELECT, "blob": Kind.FILE, "shape": Kind.JSON, "opt_text": Kind.TEXT,
    }
    assert (fields["count"].minimum, fields["count"].maximum) == (0, 9)
    assert fields["ratio"].default == "0.5" and fields["flag"].checked
    assert fields["blob"].accept == "image/png"
    assert fields["text"].max_length == 5 and not fields["opt_text"].required
    assert needs_multipart(list(fields.values()))


@pytest.mark.anyio
async def test_a_submitted_form_becomes_typed_inputs() -> None:
    fields = fields_of(_description(**SCHEMAS))
    png = UploadFile(file=io.BytesIO(b"\x89PNG"), filename="a.png",
                     headers=Headers({"content-type": "image/png"}))
    form = FormData([
        ("text", "hi"), ("count", "3"), ("ratio", "2"), ("flag", "false"), ("flag", "true"),
        ("colour", '"green"'), ("words", "a b\n\n  c \n"), ("sizes", "1\n2"),
        ("tags", '"a"'), ("tags", '"c"'), ("blob", png), ("shape", '{"x": 1.5}'),
        ("opt_text", ""), ("unknown", "ignored"),
    ])
    assert await inputs_from_form(fields, form) == {
        "text": "hi", "count": 3, "ratio": 2, "flag": True, "colour": "green",
        "words": ["a b", "c"], "sizes": [1, 2], "tags": ["a", "c"],
        "blob": {"value": "iVBORw==", "encoding": "base64", "mediaType": "image/png"},
        "shape": {"x": 1.5},
    }


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "text"), [("count", "2.5"), ("ratio", "nan"),
                                            ("sizes", "1\nx"), ("shape", "{nope")])
async def test_form_values_that_do_not_parse_are_invalid_parameters(name: str, text: str) -> None:
    fields = [f for f in fields_of(_description(**SCHEMAS)) if f.name == name]
    with pytest.raises(InvalidParameterValue, match=name):
        await inputs_from_form(fields, FormData([(name, text)]))


def test_schemas_read_as_one_line() -> None:
    assert schema_text(SCHEMAS["count"]) == "integer, 0 ≤ x < 10"
    assert schema_text(SCHEMAS["tags"]) == 'array of one of "a", "b", "c"'
    assert schema_text(SCHEMAS["blob"]) == "binary file (image/png)"
    assert schema_text({"type": "number", "nullable": True, "minimum": 1}) == \
        "number, x ≥ 1 or null"


def test_a_form_answered_from_the_cache_still_leads_to_a_job(client: httpx.Client) -> None:
    """The form calls the API's execution intent: a request the cache answers makes a job
    that is already successful, and the browser is sent to it like to any other."""
    value = unique("cached-form")
    first = _job_of(_post_form(client, "echo", data={"value": value}))
    wait_status(client, first, "successful")
    second = _job_of(_post_form(client, "echo", data={"value": value}))
    assert second != first
    status = json_doc(client.get(second), "statusInfo")
    assert status["status"] == "successful", status
    assert status["created"] == status["started"] == status["finished"], status  # never ran
    assert client.get(f"{second}/results/value").text == value


def _snippet(page: str, element_id: str) -> str:
    found = re.search(rf'<pre class="copy" id="{element_id}"><code>(.*?)</code></pre>', page,
                      re.DOTALL)
    assert found is not None, page
    return html.unescape(found[1])


@pytest.mark.parametrize("process_id", ["echo", "add", "sleep", "bbox_area", "byte_stats",
                                        "number_stats", "fail"])
def test_the_process_page_offers_a_request_that_runs_as_copied(
    client: httpx.Client, process_id: str, tmp_path: Path,
) -> None:
    """The page's curl command and Python (fastproc's client) execute the process with
    example inputs the server accepts: as pasted, each answers the process's outcome."""
    page = client.get(f"/processes/{process_id}", params={"f": "html"}).text
    base = str(client.base_url).rstrip("/")
    curl = _snippet(page, "request-curl")
    assert curl.startswith(f"curl -s -X POST {base}/processes/{process_id}/execution"), curl
    ran = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60,
                         check=False)
    python = _snippet(page, "request-python")
    assert python.startswith("# pip install 'fastproc[client]'\n"), python
    script = tmp_path / "run.py"
    script.write_text(python)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, check=False, cwd=tmp_path)
    if process_id == "fail":
        assert json.loads(ran.stdout)["type"].endswith("/process-error"), ran.stdout
        assert done.returncode == 1 and "ServerError" in done.stderr, done.stderr
        return
    created = json.loads(ran.stdout)
    if "jobID" in created:  # an async-only process: its job
        wait_job(client, created["jobID"])
        created = client.get(f"/jobs/{created['jobID']}/results").json()
    description = client.get(f"/processes/{process_id}").json()
    assert set(created) == set(description["outputs"]), ran.stdout
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == set(description["outputs"]), done.stdout


# -- job management from the pages (Part 4): inputs, run again, edit and run, drafts --------


def _form_action(page: str, button_id: str) -> str:
    """The action of the form holding the button `button_id` (its own formaction first)."""
    button = re.search(rf'<button[^>]*id="{button_id}"[^>]*>', page)
    assert button is not None, page
    own = re.search(r'formaction="([^"]+)"', button[0])
    if own:
        return html.unescape(own[1])
    form = page[:button.start()].rsplit("<form", 1)[1]
    found = re.search(r'action="([^"]+)"', form)
    assert found is not None, form
    return html.unescape(found[1])


def test_the_job_page_shows_the_inputs_it_was_given_escaped(client: httpx.Client) -> None:
    evil = "<script>alert(1)</script>" + unique()
    job = start_job(client, "echo", {"value": evil, "array": [7, 8]}, headers=ASYNC)
    page = client.get(job.location, params={"f": "html"}).text
    section = page[page.index('id="job-inputs"'):]
    section = section[:section.index("</section>")]
    assert "<script>alert" not in section
    assert f'"{evil}"' in html.unescape(section), section
    assert "7," in section and "8" in section
    definition = re.search(r'<a href="([^"]+/definition)"', section)
    assert definition is not None and client.get(definition[1]).json()["inputs"]["value"] == evil


def test_run_again_starts_a_new_job_with_the_same_inputs(client: httpx.Client) -> None:
    value = unique("again")
    first = _job_of(_post_form(client, "echo", data={"value": value}))
    done = wait_status(client, first, "successful")
    page = client.get(first, params={"f": "html"}).text
    again = client.post(_form_action(page, "job-rerun"), headers=BROWSER)
    second = _job_of(again)
    assert second != first
    status = wait_status(client, second, "successful")
    assert status["jobID"] != done["jobID"]
    assert client.get(f"{second}/definition").json()["inputs"] == {"value": value}
    assert client.get(f"{second}/results/value").text == value


def test_edit_and_run_opens_the_form_filled_with_the_jobs_inputs(client: httpx.Client) -> None:
    a, b = unique_int(), 0.25
    job = _job_of(_post_form(client, "add", data={"a": str(a), "b": str(b)}))
    page = client.get(job, params={"f": "html"}).text
    edit = re.search(r'<a class="button secondary" id="job-edit" href="([^"]+)"', page)
    assert edit is not None, page
    form = client.get(html.unescape(edit[1])).text
    assert re.search(rf'id="input-a" name="a"[^>]*value="{a}"', form), form
    assert re.search(r'id="input-b" name="b"[^>]*value="0.25"', form), form
    assert f"/jobs/{job.rsplit('/', 1)[1]}?f=html" in form  # "filled from job ..."
    other = client.get(html.unescape(edit[1]).replace("/processes/add", "/processes/echo"))
    assert other.status_code == 400, other.text  # a job of another process


def test_edit_and_run_refuses_a_job_that_is_not_there(client: httpx.Client) -> None:
    for hostile in ("nope", "../../etc", "0" * 32, "a" * 5000):
        response = client.get("/processes/add", params={"f": "html", "from": hostile})
        assert response.status_code in (400, 404), (hostile, response.status_code)


def test_a_draft_saved_from_the_form_waits_for_its_start(client: httpx.Client) -> None:
    a = unique_int()
    process_page = client.get("/processes/add", params={"f": "html"}).text
    saved = client.post(_form_action(process_page, "save-draft"),
                        data={"a": str(a), "b": "1"}, headers=BROWSER)
    draft = _job_of(saved)
    status = json_doc(client.get(draft), None)
    assert status["status"] == "created", status
    page = client.get(draft, params={"f": "html"}).text
    assert 'id="job-rerun"' not in page
    started = client.post(_form_action(page, "job-start"), headers=BROWSER)
    assert _job_of(started) == draft
    assert wait_status(client, draft, "successful")["jobID"] == draft.rsplit("/", 1)[1]
    assert client.get(f"{draft}/results").json() == a + 1
    again = client.post(_form_action(page, "job-start"), headers=BROWSER)
    assert again.status_code == 409, again.text  # it finished: started once only


def test_a_draft_with_an_invalid_input_is_refused_and_stores_nothing(
    client: httpx.Client,
) -> None:
    response = client.post("/processes/add/execution/draft", data={"a": "x", "b": "1"},
                           headers=BROWSER)
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("path", ["/processes/add/execution/draft", "/jobs/{job}/start",
                                  "/jobs/{job}/rerun/form"])
def test_the_job_management_forms_refuse_a_cross_site_post(
    client: httpx.Client, path: str,
) -> None:
    job = submit_async(client, "add", {"a": 1, "b": unique_int()})
    before = len(client.get("/jobs", params={"processID": "add", "limit": 1000,
                                             "status": ["created", "accepted", "running",
                                                        "successful"]}).json()["jobs"])
    response = client.post(path.format(job=job), data={"a": "1", "b": "2"},
                           headers={"Sec-Fetch-Site": "cross-site", **BROWSER})
    assert response.status_code == 403, response.text
    after = len(client.get("/jobs", params={"processID": "add", "limit": 1000,
                                            "status": ["created", "accepted", "running",
                                                       "successful"]}).json()["jobs"])
    assert after == before
