"""Optional access control: API keys, job ownership, read-only keys."""

from __future__ import annotations

import hmac
from collections.abc import Iterator

import httpx
import pytest

from fastproc.api.auth import KeyRing
from fastproc.settings import Settings
from tests.support import Processes, free_port, wait_job

KEYS = {"alice": "alice-secret-3f9a", "bob": "bob-secret-77c1"}
VIEWER = "viewer-secret-01be"


@pytest.fixture(scope="module")
def secured(procs: Processes, worker: object) -> Iterator[str]:
    port = free_port()
    procs.api(port, FASTPROC_API_KEYS=",".join(f"{n}:{k}" for n, k in KEYS.items()),
              FASTPROC_READ_ONLY_KEYS=f"viewer:{VIEWER}")
    yield f"http://127.0.0.1:{port}"


def _as(url: str, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=url, headers=headers, timeout=20)


def _submit(client: httpx.Client) -> httpx.Response:
    return client.post("/processes/sleep/execution", json={"inputs": {"seconds": 0.2}},
                       headers={"Prefer": "respond-async"})


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_execution_and_jobs_need_a_valid_key(secured: str, key: str | None) -> None:
    with _as(secured, key) as client:
        for response in (_submit(client), client.get("/jobs")):
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert response.json()["type"].endswith("/unauthorized")
        assert client.get("/processes").status_code == 200


def test_a_caller_sees_and_dismisses_only_its_own_jobs(secured: str) -> None:
    with _as(secured, KEYS["alice"]) as alice, _as(secured, KEYS["bob"]) as bob:
        created = _submit(alice)
        assert created.status_code == 201
        job_id = created.json()["jobID"]
        for response in (bob.get(f"/jobs/{job_id}"), bob.delete(f"/jobs/{job_id}"),
                         bob.get(f"/jobs/{job_id}/results"), bob.get(f"/jobs/{job_id}/events")):
            assert response.status_code == 404
            assert response.json()["type"].endswith("/no-such-job")
        assert job_id not in [j["jobID"] for j in bob.get("/jobs").json()["jobs"]]
        assert job_id in [j["jobID"] for j in alice.get("/jobs").json()["jobs"]]
        assert wait_job(alice, job_id)["status"] == "successful"
        assert alice.get(f"/jobs/{job_id}/results").text == "0.2"


def test_a_read_only_key_lists_and_describes_only(secured: str) -> None:
    with _as(secured, VIEWER) as viewer:
        assert viewer.get("/processes").status_code == 200
        assert viewer.get("/processes/echo").status_code == 200
        for response in (_submit(viewer), viewer.get("/jobs")):
            assert response.status_code == 403
            assert response.json()["type"].endswith("/forbidden")


def test_keys_are_compared_in_constant_time_against_every_key(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    ring = KeyRing(Settings(api_keys=["a:first-key", "b:second-key"],
                            read_only_keys=["c:third-key"]))
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert ring.identify("first-key") is not None
    assert len(compared) == 3, "the search must not stop at the first match"
    assert ring.identify("nope") is None


def test_keys_never_reach_the_logs(secured: str, procs: Processes) -> None:
    with _as(secured, KEYS["alice"]) as alice:
        _submit(alice)
    with _as(secured, "not-a-key-9d2e") as stranger:
        stranger.get("/jobs")
    logs = "".join(p.read_text(errors="replace") for p in procs.logs.glob("api-*.log"))
    assert logs, "the API logs are where the keys would leak"
    for secret in (*KEYS.values(), VIEWER, "not-a-key-9d2e"):
        assert secret not in logs
    assert "alice-secret" not in repr(Settings(api_keys=[f"alice:{KEYS['alice']}"]))
