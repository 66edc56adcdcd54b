"""Redis Sentinel: the URL form of the README, connections that follow a failover, writes
acknowledged only once replicated (`FASTPROC_REDIS_MIN_REPLICAS`), and the failover itself
with real Valkey servers, Sentinels, workers and an API (`benchmarks.failover`)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
import redis
from redis.asyncio.sentinel import SentinelManagedConnection

from benchmarks.failover import run as failover_run
from fastproc.embedded import SentinelGroup, embedded_sentinel_group
from fastproc.redis import RedisURLError, SentinelTarget, connect
from fastproc.settings import Settings
from tests.support import (
    ROOT,
    Processes,
    assert_no_orphaned_running,
    free_port,
    own_env,
    submit_async,
    wait_for,
    wait_job,
)


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    with embedded_sentinel_group() as started:
        yield started


def _readme_url() -> str:
    found = re.findall(r"redis\+sentinel://\S+", (ROOT / "README.md").read_text())
    assert found, "the README shows no Sentinel URL"
    return str(found[0])


def test_the_readme_sentinel_url_parses_and_its_form_reaches_a_sentinel_group(
    group: SentinelGroup,
) -> None:
    pasted = _readme_url()
    target = SentinelTarget.parse(pasted)
    assert target.sentinels == (("sentinel-1", 26379), ("sentinel-2", 26379),
                                ("sentinel-3", 26379))
    assert (target.service, target.db, target.tls) == ("mymaster", 0, False)
    # The same form, with this group's Sentinels in place of the README's hosts.
    ours = ",".join(f"127.0.0.1:{s.port}" for s in group.sentinels)
    url = re.sub(r"(?<=://)[^/]+", ours, pasted)

    async def roundtrip(fast: bool) -> type:
        client = connect(Settings(redis_url=url, fast_paths=fast))
        try:
            await client.set("fpt-sentinel", b"here")
            assert await client.get("fpt-sentinel") == b"here"
            assert "connection_pool" in client.connection_pool.connection_kwargs  # Sentinel's
            connection_class: type = client.connection_pool.connection_class
            return connection_class
        finally:
            await client.aclose()

    hooked = asyncio.run(roundtrip(True))
    assert issubclass(hooked, SentinelManagedConnection)
    assert hooked is not SentinelManagedConnection  # the hiredis packing is in place
    assert asyncio.run(roundtrip(False)) is SentinelManagedConnection


@pytest.mark.parametrize("url,complaint", [
    ("redis+sentinel://h1:26379/", "names the service"),
    ("redis+sentinel://h1:26379/mymaster/0/extra", "names the service"),
    ("redis+sentinel://h1:26379/mymaster/zero", "is a number"),
    ("redis+sentinel://h1:99999/mymaster/0", "not a port"),
    ("redis+sentinel://h1:port/mymaster/0", "not a port"),
    ("redis+sentinel://,h1/mymaster/0", "host:port"),
    ("redis+sentinel://h1/mymaster/0?socket_timeout=0", "unknown options"),
    ("rediss+sentinel://h1/mymaster/0?ssl_cert_reqs=maybe", "ssl_cert_reqs"),
    ("redis://h1/mymaster/0", "not a Sentinel URL"),
])
def test_a_malformed_sentinel_url_is_refused_with_what_is_wrong(url: str, complaint: str) -> None:
    with pytest.raises(RedisURLError, match=complaint):
        SentinelTarget.parse(url)


def test_the_sentinel_url_password_never_appears_in_an_error() -> None:
    with pytest.raises(RedisURLError) as raised:
        SentinelTarget.parse("redis://user:s3cret@h1/mymaster/0")
    assert "s3cret" not in str(raised.value)


def test_tls_and_credentials_of_a_sentinel_url_reach_the_connections() -> None:
    target = SentinelTarget.parse(
        "rediss+sentinel://app:p%40ss@[::1]:26380,h2/svc/3?sentinel_password=sp"
        "&ssl_ca_certs=/etc/ca.pem")
    assert target.sentinels == (("::1", 26380), ("h2", 26379))
    assert (target.username, target.password, target.db, target.tls) == ("app", "p@ss", 3, True)
    client = connect(Settings(redis_url="rediss+sentinel://app:p%40ss@h1/svc/3"
                                        "?sentinel_password=sp&ssl_ca_certs=/etc/ca.pem"))
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["password"], kwargs["db"], kwargs["ssl_ca_certs"]) == ("p@ss", 3, "/etc/ca.pem")
    assert "SSL" in client.connection_pool.connection_class.__name__


def _primary_client(group: SentinelGroup) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=group.primary().port)


def test_an_execution_not_confirmed_by_enough_replicas_answers_503_with_retry_after(
    procs: Processes, key_prefix: str,
) -> None:
    with embedded_sentinel_group() as group:
        env = own_env(key_prefix, FASTPROC_REDIS_URL=group.url, FASTPROC_REDIS_MIN_REPLICAS="1")
        procs.worker(_primary_client(group), **env)
        port = free_port()
        procs.api(port, **env)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20)
        job_id = submit_async(client, "echo", {"value": "replicated"})
        assert wait_job(client, job_id)["status"] == "successful"

        replica = next(node for node in group.data if node is not group.primary())
        replica.kill()
        refused = client.post("/processes/echo/execution", json={"inputs": {"value": "x"}},
                              headers={"Prefer": "respond-async", "Cache-Control": "no-cache"})
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["type"].endswith("/service-unavailable")
        assert int(refused.headers["retry-after"]) > 0

        replica.start()  # it syncs again; executions are acknowledged again
        wait_for(lambda: client.post(
            "/processes/echo/execution", json={"inputs": {"value": "y"}},
            headers={"Prefer": "respond-async", "Cache-Control": "no-cache"},
        ).status_code == 201, 60, "executions to be acknowledged once the replica is back",
            every=0.2)


def test_a_write_to_a_demoted_primary_answers_503_not_500(
    procs: Processes, key_prefix: str, group: SentinelGroup,
) -> None:
    # An API on a plain URL of what is now a replica: as after a managed failover, before
    # its address moves. It reads the catalogue a worker wrote on the primary; its writes
    # are refused READONLY.
    env = own_env(key_prefix, FASTPROC_REDIS_URL=group.url)
    procs.worker(_primary_client(group), **env)
    replica = next(node for node in group.data if node is not group.primary())
    port = free_port()
    procs.api(port, **{**env, "FASTPROC_REDIS_URL": f"redis://127.0.0.1:{replica.port}/0"})
    answer = httpx.post(f"http://127.0.0.1:{port}/processes/echo/execution",
                        json={"inputs": {"value": "x"}}, timeout=20,
                        headers={"Prefer": "respond-async", "Cache-Control": "no-cache"})
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["retry-after"]) > 0


@pytest.mark.slow
def test_no_acknowledged_job_is_lost_when_the_primary_is_killed_mid_run() -> None:
    left: list[str] = []

    def nothing_left_running(primary: redis.Redis, prefix: str, queue: str) -> None:
        assert_no_orphaned_running(primary, prefix, queue)
        left.append(prefix)

    run = failover_run(150, 1, after=nothing_left_running)
    assert len(run.acknowledged) == 150
    assert run.ends["successful"] == 150, (dict(run.ends), run.not_ended[:5], run.failures)
    assert run.ends["lost"] == run.ends["stuck"] == run.ends["failed"] == 0
    assert run.first_success_after is not None  # the new primary served a job to the end
    assert not run.other_errors.get("HTTP 500"), dict(run.other_errors)
    assert left, "the check of what is left in Redis did not run"
    # Each acknowledged plain job and workflow leaf ran and is in the journal (a second run
    # is allowed, at-least-once, and counted in run.ran_twice).
    assert run.tokens and all(run.runs[token] >= 1
                              for tokens in run.tokens.values() for token in tokens)
    # The stream open on a job running across the kill either delivered the job's final
    # state or ended cleanly (the client reconnects): never a refusal or a broken stream,
    # and never hanging past its 30 s read timeout.
    stream = run.sse
    assert stream is not None and stream.statuses[0] == "running", stream
    assert stream.ended == "ended", stream
    assert stream.last == "successful" or stream.ended_at - run.killed_at < 30, stream
