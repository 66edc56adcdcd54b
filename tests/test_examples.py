"""The example processes as a client sees them: every one, asked with only its required
inputs and no `outputs`, answers a results document holding every output its description
lists (OGC API - Processes 1.0, /req/core/process-execute-default-outputs)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from fastproc.authoring.registry import Registry
from tests.e2e import assert_exception, json_doc
from tests.support import start_job, wait_job

#: The fewest inputs each example process accepts: its required ones only.
REQUIRED_ONLY: dict[str, dict[str, Any]] = {
    "echo": {"value": "hi"},
    "sleep": {"seconds": 0.01},
    "add": {"a": 1, "b": 2},
    "number_stats": {"numbers": [1, 2, 3]},
    "solid_png": {},
    "squares_csv": {},
    "batch_upper": {"words": ["a", "b"]},
    "text_stats": {"text": "a b a"},
    "bbox_area": {"extent": {"bbox": [0, 0, 2, 3]}},
    "byte_stats": {"data": base64.b64encode(b"abc").decode()},
    "points_geojson": {},
}
#: Processes whose job fails by design.
FAILING = {"fail"}
EXAMPLE_IDS = sorted(proc.description.id for proc in Registry.from_modules(["workers.examples"]))


def test_every_example_process_is_walked() -> None:
    assert set(EXAMPLE_IDS) == set(REQUIRED_ONLY) | FAILING


@pytest.mark.parametrize("process_id", sorted(REQUIRED_ONLY))
def test_a_results_document_holds_every_described_output(
    client: httpx.Client, process_id: str,
) -> None:
    description = json_doc(client.get(f"/processes/{process_id}"), "process")
    job = start_job(client, process_id, REQUIRED_ONLY[process_id], response="document")
    assert wait_job(client, job.id)["status"] == "successful"
    results = json_doc(client.get(f"/jobs/{job.id}/results"), "results")
    assert set(results) == set(description["outputs"]), results


def test_echo_answers_its_defaults_for_inputs_not_given(client: httpx.Client) -> None:
    description = json_doc(client.get("/processes/echo"), "process")
    response = client.post("/processes/echo/execution",
                           json={"inputs": {"value": "hi"}, "response": "document"})
    results = json_doc(response, "results")
    for name, output in results.items():
        given = output.get("value", output) if isinstance(output, dict) else output
        if name != "value":
            assert given == description["inputs"][name]["schema"]["default"], (name, output)


def test_fail_fails(client: httpx.Client) -> None:
    response = client.post("/processes/fail/execution", json={"inputs": {}})
    assert_exception(response, 500)
