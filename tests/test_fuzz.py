"""Schemathesis against the OpenAPI document the API serves: generated requests, valid and
invalid, for every operation never crash the server, answers match their documented
schemas, and the server keeps serving.

The run is bounded and reproducible for CI: derandomized, a fixed number of cases per
operation. Some cases of each operation carry real process ids, job ids, output ids and
formats, so they get past the 404s and 406s into the handlers behind them.

Schemathesis is driven through its Hypothesis strategies (`APIOperation.as_strategy`), not
`schemathesis.pytest.from_fixture`: that one fails on pytest 9.2, which dropped the
`Function._nodeid` attribute schemathesis 4.32 rewrites to name each operation's subtest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fastproc.ogc.exceptions import ProcessError
from tests.support import Processes, submit_async, wait_job

CASES_PER_OPERATION = 25

# Their inputs choose how long they run or how much they produce (or which file they write):
# a generated body must not tie up the worker for the rest of the session.
SLOW_PROCESSES = {"sleep", "blocking_sleep", "slow_cleanup", "slow_parts", "big_blob",
                  "counted_parts"}

# Where a job that failed answers with its own error: the process failed, not the server.
REPORTS_JOB_FAILURES = {"POST /processes/{process_id}/execution",
                        "GET /jobs/{job_id}/results",
                        "GET /jobs/{job_id}/results/{output_id}"}

KnownValues = dict[str, list[str]]


def _content_type(response: Response) -> str:
    return (response.headers.get("content-type") or [""])[0]


def no_server_error(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """`not_a_server_error`, except a job's own failure: a process that raises fails its job
    with an OGC `process-error` (500), and its execution and results report just that."""
    if (case.operation.label in REPORTS_JOB_FAILURES and response.status_code == 500
            and "json" in _content_type(response)
            and response.json().get("type") == ProcessError.type_uri):
        return None
    return not_a_server_error(ctx, response, case)


def documented_body(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """`response_schema_conformance`, except on event streams: schemathesis validates each
    event against the media type's schema, which in OpenAPI 3.0 describes the whole body
    (`type: string`)."""
    if _content_type(response).startswith("text/event-stream"):
        return None
    return response_schema_conformance(ctx, response, case)


CHECKS = [no_server_error, documented_body, response_headers_conformance,
          status_code_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_url}/api")


@pytest.fixture(scope="module")
def known_values(client: httpx.Client) -> KnownValues:
    """Real parameter values: the published processes but the slow ones, a successful and a
    failed job, the output of the successful one, the offered representations."""
    listed = client.get("/processes", params={"limit": 1000}).json()["processes"]
    succeeded = submit_async(client, "add", {"a": 1, "b": 2})
    failed = submit_async(client, "fail", {})
    for job_id in (succeeded, failed):
        wait_job(client, job_id)
    return {"process_id": sorted(p["id"] for p in listed if p["id"] not in SLOW_PROCESSES),
            "job_id": [succeeded, failed],
            "output_id": ["sum"],
            "f": ["json", "html"]}


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def _generated(operation: schemathesis.APIOperation, path_parameters: dict[str, str] | None = None,
               query: dict[str, str] | None = None) -> st.SearchStrategy[Case]:
    return st.one_of([operation.as_strategy(generation_mode=mode, path_parameters=path_parameters,
                                            query=query)
                      for mode in GenerationMode])


def _some_known(names: Iterable[str], known: KnownValues) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({name: st.sampled_from(known[name])
                                  for name in names if name in known})


def cases(operation: schemathesis.APIOperation, known: KnownValues) -> st.SearchStrategy[Case]:
    """Generated requests, some with known values for the parameters that have them."""
    path = [p.name for p in operation.path_parameters]
    query = [p.name for p in operation.query]
    if not any(name in known for name in path + query):
        return _generated(operation)
    with_known = st.tuples(_some_known(path, known), _some_known(query, known)).flatmap(
        lambda values: _generated(operation, path_parameters=values[0], query=values[1]))
    return st.one_of(with_known, _generated(operation))


def fuzz(operation: schemathesis.APIOperation, known: KnownValues,
         session: requests.Session) -> None:
    @given(case=cases(operation, known))
    @settings(max_examples=CASES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    def send(case: Case) -> None:
        case.call_and_validate(session=session, checks=CHECKS, timeout=30)

    send()


def _describe(exc: BaseException) -> str:
    """Schemathesis's report (request, response, curl command) for each failure found."""
    if isinstance(exc, BaseExceptionGroup) and not isinstance(exc, FailureGroup):
        return "\n".join(_describe(inner) for inner in exc.exceptions)
    return str(exc)


def _log_sizes(procs: Processes) -> dict[Path, int]:
    return {log: log.stat().st_size for log in procs.logs.glob("api-*.log")}


def _errors_logged_since(procs: Processes, sizes: dict[Path, int]) -> list[str]:
    """Errors the API processes logged since `sizes`: crashes a client never sees as a 500,
    such as one in an event stream after its 200."""
    found: list[str] = []
    for log in procs.logs.glob("api-*.log"):
        with log.open("rb") as f:
            f.seek(sizes.get(log, 0))
            found += [line for line in f.read().decode(errors="replace").splitlines()
                      if "| ERROR" in line]
    return found


def test_generated_requests_never_crash_the_server(
        api_schema: schemathesis.BaseSchema, known_values: KnownValues,
        session: requests.Session, procs: Processes, client: httpx.Client) -> None:
    sizes = _log_sizes(procs)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    failures: list[str] = []
    # Dismissals last: they delete the real jobs the other operations read.
    for operation in sorted(operations, key=lambda op: op.method.upper() == "DELETE"):
        try:
            fuzz(operation, known_values, session)
        except (AssertionError, BaseExceptionGroup) as exc:
            failures.append(f"{operation.label}:\n{_describe(exc)}")
    assert not failures, "\n\n".join(failures)
    assert not _errors_logged_since(procs, sizes)
    assert client.get("/conformance").status_code == 200, "the server stopped serving"
