"""`/`, `/conformance`, `/api` and `/api.html` (OGC API - Processes 1.0, 7.2-7.4)."""

from __future__ import annotations

import re

import httpx
import openapi_spec_validator

from tests.e2e import (
    REL_CONFORMANCE,
    REL_PROCESSES,
    json_doc,
    media_type,
    one_link,
    show,
)
from tests.support import Processes, free_port, own_env

CONF = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
OPENAPI_30 = "application/vnd.oai.openapi+json;version=3.0"


def test_landing_page_is_valid_and_links_self_api_conformance_and_processes(
    client: httpx.Client,
) -> None:
    doc = json_doc(client.get("/"), "landingPage")
    for rel in ("self", "service-desc", "service-doc", REL_CONFORMANCE, REL_PROCESSES):
        one_link(doc, rel)
    assert one_link(doc, "self")["href"].rstrip("/") == str(client.base_url).rstrip("/")
    assert one_link(doc, "service-desc")["type"].replace(" ", "") == OPENAPI_30
    assert one_link(doc, "service-doc")["type"] == "text/html"
    assert one_link(doc, REL_CONFORMANCE)["href"].endswith("/conformance")
    assert one_link(doc, REL_PROCESSES)["href"].endswith("/processes")


def test_every_landing_page_link_can_be_followed(client: httpx.Client) -> None:
    doc = json_doc(client.get("/"), "landingPage")
    for link in doc["links"]:
        response = client.get(link["href"])
        assert response.status_code == 200, show(response)
        if "type" in link:
            assert media_type(response) == link["type"].split(";")[0].strip(), \
                f"link {link} answers {show(response)}"


def test_conformance_lists_every_implemented_class(
    client: httpx.Client,
) -> None:
    doc = json_doc(client.get("/conformance"), "confClasses")
    for name in ("core", "json", "html", "oas30", "ogc-process-description", "job-list",
                 "dismiss", "callback"):
        assert CONF + name in doc["conformsTo"], doc
    assert len(doc["conformsTo"]) == len(set(doc["conformsTo"])), doc


def test_conformance_claims_html_only_when_html_is_served(client: httpx.Client) -> None:
    doc = json_doc(client.get("/conformance"), "confClasses")
    html = client.get("/", params={"f": "html"})
    if CONF + "html" in doc["conformsTo"]:
        assert html.status_code == 200 and media_type(html) == "text/html", show(html)
    else:
        assert html.status_code == 406, show(html)


def test_api_definition_is_a_valid_openapi_30_document(client: httpx.Client) -> None:
    response = client.get("/api")
    assert response.status_code == 200, show(response)
    assert response.headers["content-type"].replace(" ", "") == OPENAPI_30, show(response)
    doc = response.json()
    assert re.fullmatch(r"3\.0\.\d+", doc["openapi"]), doc["openapi"]
    openapi_spec_validator.validate(doc)


def test_api_definition_describes_every_ogc_path(client: httpx.Client) -> None:
    doc = client.get("/api").json()
    paths = {re.sub(r"\{[^}]+\}", "{}", path): ops for path, ops in doc["paths"].items()}
    wanted = {
        "/": {"get"}, "/conformance": {"get"}, "/processes": {"get"},
        "/processes/{}": {"get"}, "/processes/{}/execution": {"post"}, "/jobs": {"get"},
        "/jobs/{}": {"get", "delete"}, "/jobs/{}/results": {"get"},
    }
    for path, methods in wanted.items():
        assert path in paths, f"{path} missing from the API definition: {sorted(paths)}"
        assert methods <= set(paths[path]), f"{path}: {sorted(paths[path])}"


def test_api_html_is_an_html_page_on_the_api_definition(client: httpx.Client) -> None:
    response = client.get("/api.html")
    assert response.status_code == 200, show(response)
    assert media_type(response) == "text/html", show(response)
    assert "<html" in response.text.lower()
    assert "/api" in response.text


def test_remote_processes_are_declared_only_while_they_are_on() -> None:
    from fastproc.ogc import conformance

    on = conformance.declared(remote_processes=True)
    off = conformance.declared(remote_processes=False)
    assert conformance.REMOTE_CORE_PROCESSES in on
    assert conformance.REMOTE_CORE_PROCESSES not in off
    assert conformance.NESTED_PROCESSES in off and set(off) < set(on)


def test_the_service_is_named_by_its_settings(procs: Processes, key_prefix: str) -> None:
    """FASTPROC_TITLE and FASTPROC_DESCRIPTION name the service on the landing page, in the
    API definition and in every HTML page's title."""
    title, description = "Flood models <&>", "Runs the river basin's flood models."
    port = free_port()
    procs.api(port, **own_env(key_prefix, FASTPROC_TITLE=title,
                              FASTPROC_DESCRIPTION=description))
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as own:
        doc = json_doc(own.get("/"), "landingPage")
        assert (doc["title"], doc["description"]) == (title, description)
        info = own.get("/api").json()["info"]
        assert (info["title"], info["description"]) == (title, description)
        escaped = "Flood models &lt;&amp;&gt;"
        landing = own.get("/", params={"f": "html"}).text
        assert f"<title>{escaped}</title>" in landing, landing[:400]
        processes = own.get("/processes", params={"f": "html"}).text
        assert re.search(rf"<title>[^<]* · {escaped}</title>", processes), processes[:400]
        assert f"<title>API documentation · {escaped}</title>" in own.get("/api.html").text
