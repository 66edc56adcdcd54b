"""The address rules hold where the socket is opened: a name is resolved once per connection
and the connection goes to an address that was checked (no DNS rebinding), for references,
each redirect hop and callbacks; IPv6 addresses that carry a private IPv4 are refused.

The DNS answers come from an injected resolver (`fastproc.net.Resolver`), and the sockets
are opened by `LoopbackOnlyNetwork`: it notes each address a connection goes to and opens
only loopback ones, so a test proves a connection went to the vetted public address without
sending it a packet. Everything else is real: httpx, sockets, TLS and loopback servers that
count their connections.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from collections.abc import Iterator, Sequence
from functools import partial
from urllib.parse import quote

import anyio
import httpx
import pytest
import trustme
from hypothesis import assume, given
from hypothesis import strategies as st
from loguru import logger

import fastproc.worker.callbacks
from fastproc.net import (
    AddressNotAllowed,
    check_url_syntax,
    is_public_address,
    pinned_client,
)
from fastproc.settings import Settings
from fastproc.worker.callbacks import SUCCESS, Notifier
from fastproc.worker.fetch import Spool, fetch_into
from tests.recording_http import LoopbackOnlyNetwork, RecordingHTTP

PUBLIC = "93.184.216.34"  # never contacted: `LoopbackOnlyNetwork` refuses it
OPEN = Settings(allow_private_addresses=True, callback_retries=0)
STRICT = Settings(allow_private_addresses=False, callback_retries=0)


class FakeDNS:
    """Names that answer `first` to their first lookup and `then` to every later one: the
    attacker's DNS in a rebinding attack. Each lookup is noted."""

    def __init__(self, names: dict[str, tuple[Sequence[str], Sequence[str]]]) -> None:
        self.names = names
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        first, then = self.names[host]
        answered_before = host in self.lookups
        self.lookups.append(host)
        return then if answered_before else first


@pytest.fixture
def network() -> LoopbackOnlyNetwork:
    return LoopbackOnlyNetwork()


@pytest.fixture
def victim() -> Iterator[RecordingHTTP]:
    """The loopback server a rebinding name points to once it has passed the check."""
    with RecordingHTTP("127.0.0.1") as server:
        yield server


@pytest.fixture
def checked(victim: RecordingHTTP) -> Iterator[RecordingHTTP]:
    """A server on another loopback address, same port: the address the check was shown."""
    with RecordingHTTP("127.0.0.2", victim.port) as server:
        yield server


def _fetch(url: str, settings: Settings, dns: FakeDNS, network: LoopbackOnlyNetwork,
           verify: ssl.SSLContext | bool = True) -> bytes:
    async def run() -> bytes:
        async with pinned_client(settings, timeout=5, resolver=dns, verify=verify,
                                 network=network) as http, \
                Spool(settings.fetch_memory_bytes) as spool:
            await fetch_into(spool, http, url, settings)
            return await spool.read()

    return anyio.run(run)


def test_a_name_that_rebinds_from_public_to_loopback_connects_only_to_the_public_address(
        victim: RecordingHTTP, network: LoopbackOnlyNetwork) -> None:
    dns = FakeDNS({"rebind.example": ([PUBLIC], ["127.0.0.1"])})
    with pytest.raises(httpx.ConnectError) as failed:
        _fetch(f"http://rebind.example:{victim.port}/files/secret", STRICT, dns, network)
    assert f"cannot connect to rebind.example port {victim.port} ({PUBLIC}: " in str(
        failed.value)
    assert network.targets == [(PUBLIC, victim.port)]
    assert victim.connections == 0 and victim.requests == []
    assert dns.lookups == ["rebind.example"], "one lookup: the connection used its answer"


def test_the_connection_goes_to_the_address_the_check_saw(
        victim: RecordingHTTP, checked: RecordingHTTP, network: LoopbackOnlyNetwork) -> None:
    dns = FakeDNS({"rebind.test": (["127.0.0.2"], ["127.0.0.1"])})
    body = _fetch(f"http://rebind.test:{victim.port}/files/x", OPEN, dns, network)
    assert body == b"from 127.0.0.2" and victim.connections == 0
    assert network.targets == [("127.0.0.2", victim.port)]
    assert [host for _, _, host, _ in checked.requests] == [f"rebind.test:{victim.port}"]


def test_a_redirect_to_a_name_that_rebinds_is_pinned_too(
        victim: RecordingHTTP, checked: RecordingHTTP, network: LoopbackOnlyNetwork) -> None:
    target = f"http://rebind.test:{victim.port}/files/x"
    dns = FakeDNS({"start.test": (["127.0.0.2"], ["127.0.0.2"]),
                   "rebind.test": (["127.0.0.2"], ["127.0.0.1"])})
    body = _fetch(f"http://start.test:{victim.port}/redirect?to={quote(target)}", OPEN, dns,
                  network)
    assert body == b"from 127.0.0.2" and victim.connections == 0
    assert dns.lookups == ["start.test", "rebind.test"]
    assert [host for _, _, host, _ in checked.requests] == [
        f"start.test:{victim.port}", f"rebind.test:{victim.port}"]


def test_a_name_resolving_to_loopback_is_refused_at_connect_when_private_is_off(
        network: LoopbackOnlyNetwork) -> None:
    async def run() -> None:
        dns = FakeDNS({"inside.example": (["127.0.0.1"], ["127.0.0.1"])})
        async with pinned_client(STRICT, timeout=5, resolver=dns, network=network) as http:
            with pytest.raises(AddressNotAllowed, match=re.escape("resolves to 127.0.0.1")):
                await http.get("http://inside.example/")

    anyio.run(run)
    assert network.targets == []


def test_one_private_answer_among_public_ones_refuses_the_name_before_any_connection(
        network: LoopbackOnlyNetwork) -> None:
    dns = FakeDNS({"mixed.example": ([PUBLIC, "10.0.0.7"], [PUBLIC])})
    with pytest.raises(AddressNotAllowed, match=re.escape("10.0.0.7")):
        _fetch("http://mixed.example/", STRICT, dns, network)
    assert network.targets == []


def _notify(settings: Settings, dns: FakeDNS, url: str, network: LoopbackOnlyNetwork,
            monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Deliver one callback through `network`; the warnings the notifier logged."""
    # The notifier builds its client itself: the real `pinned_client`, given the network.
    monkeypatch.setattr(fastproc.worker.callbacks, "pinned_client",
                        partial(pinned_client, network=network))
    warnings: list[str] = []

    async def run() -> None:
        notifier = Notifier(settings, resolver=dns)
        notifier.notify({"successUri": url}, SUCCESS, {"sum": 3})
        await notifier.drain(grace=60)

    sink = logger.add(lambda message: warnings.append(str(message)), level="WARNING")
    try:
        anyio.run(run)
    finally:
        logger.remove(sink)
    return warnings


def test_callbacks_connect_to_the_checked_address(
        victim: RecordingHTTP, checked: RecordingHTTP, network: LoopbackOnlyNetwork,
        monkeypatch: pytest.MonkeyPatch) -> None:
    dns = FakeDNS({"hook.test": (["127.0.0.2"], ["127.0.0.1"])})
    warnings = _notify(OPEN, dns, f"http://hook.test:{victim.port}/hooks/done", network,
                       monkeypatch)
    assert checked.requests == [("POST", "/hooks/done", f"hook.test:{victim.port}",
                                 b'{"sum":3}')]
    assert victim.connections == 0 and warnings == []
    assert network.targets == [("127.0.0.2", victim.port)]


def test_a_callback_name_that_rebinds_to_loopback_connects_only_to_the_public_address(
        victim: RecordingHTTP, network: LoopbackOnlyNetwork,
        monkeypatch: pytest.MonkeyPatch) -> None:
    dns = FakeDNS({"hook.example": ([PUBLIC], ["127.0.0.1"])})
    url = f"http://hook.example:{victim.port}/hooks/done"
    warnings = _notify(STRICT, dns, url, network, monkeypatch)
    assert network.targets == [(PUBLIC, victim.port)]
    assert dns.lookups == ["hook.example"] and victim.connections == 0
    assert len(warnings) == 1
    assert f"callback to {url} given up after 1 tries: ConnectError" in warnings[0]
    assert f"({PUBLIC}: ConnectError" in warnings[0]


def test_tls_sni_host_and_certificate_use_the_name_not_the_address(
        network: LoopbackOnlyNetwork) -> None:
    ca = trustme.CA()
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("pinned.test").configure_cert(served)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    with RecordingHTTP("127.0.0.1", tls=served) as server:
        dns = FakeDNS({"pinned.test": (["127.0.0.1"], ["127.0.0.1"]),
                       "other.test": (["127.0.0.1"], ["127.0.0.1"])})
        body = _fetch(f"https://pinned.test:{server.port}/files/x", OPEN, dns, network,
                      verify=trusting)
        assert body == b"from 127.0.0.1"
        assert server.server_names == ["pinned.test"]
        assert server.requests[0][2] == f"pinned.test:{server.port}"
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            _fetch(f"https://other.test:{server.port}/files/x", OPEN, dns, network,
                   verify=trusting)
        assert len(server.requests) == 1
        assert network.targets == [("127.0.0.1", server.port)] * 2


# IPv6 forms that carry an IPv4 address.

_NOT_PUBLIC_V4 = [ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4")]


def _embeddings(v4: ipaddress.IPv4Address, low: int) -> dict[str, ipaddress.IPv6Address]:
    """Every IPv6 form that reaches `v4`; `low` fills the bits each form leaves free."""
    n = int(v4)
    public = int(ipaddress.IPv4Address(PUBLIC))
    teredo = 0x2001_0000 << 96
    return {
        "compatible": ipaddress.IPv6Address(n),
        "mapped": ipaddress.IPv6Address(0xFFFF << 32 | n),
        "translated": ipaddress.IPv6Address(0xFFFF << 48 | n),
        "nat64": ipaddress.IPv6Address(0x64_FF9B << 96 | n),
        "6to4": ipaddress.IPv6Address(0x2002 << 112 | n << 80 | low % 2**80),
        "teredo client": ipaddress.IPv6Address(
            teredo | public << 64 | (low % 2**32) << 32 | n ^ 0xFFFF_FFFF),
        "teredo server": ipaddress.IPv6Address(
            teredo | n << 64 | (low % 2**32) << 32 | public ^ 0xFFFF_FFFF),
    }


_v4 = st.one_of(st.ip_addresses(v=4), *(st.ip_addresses(network=n) for n in _NOT_PUBLIC_V4))


@given(v4=_v4, low=st.integers(0, 2**80 - 1))
def test_every_ipv6_form_of_a_non_public_ipv4_is_refused(
        v4: ipaddress.IPv4Address, low: int) -> None:
    assume(not is_public_address(str(v4)))
    for form, v6 in _embeddings(v4, low).items():
        assert not is_public_address(str(v6)), f"{form} {v6} of {v4}"
        with pytest.raises(AddressNotAllowed):
            check_url_syntax(f"http://[{v6}]/", STRICT)


@pytest.mark.parametrize("literal", [
    "::127.0.0.1", "::ffff:127.0.0.1", "::ffff:0:169.254.169.254", "64:ff9b::a00:1",
    "2002:7f00:1::1", "2001:0:5db8:d822:0:0:80ff:fffe"])
def test_ipv6_literals_carrying_private_ipv4_are_refused(literal: str) -> None:
    with pytest.raises(AddressNotAllowed, match="not a public address"):
        check_url_syntax(f"http://[{literal}]:8080/x", STRICT)


def test_ipv6_forms_of_a_public_ipv4_stay_allowed_but_local_nat64_never() -> None:
    for v6 in ("2002:5db8:d822::1", "64:ff9b::5db8:d822", "2606:2800:220:1::1"):
        assert is_public_address(v6), v6
    assert not is_public_address("64:ff9b:1::5db8:d822")


def test_a_name_resolving_to_a_mapped_loopback_is_refused() -> None:
    dns = FakeDNS({"mapped.example": (["::ffff:127.0.0.1"], ["::ffff:127.0.0.1"])})

    async def run() -> None:
        with pytest.raises(AddressNotAllowed, match=re.escape("::ffff:127.0.0.1")):
            async with pinned_client(STRICT, timeout=5, resolver=dns) as http:
                await http.get("http://mapped.example/")

    anyio.run(run)
