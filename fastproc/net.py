"""Rules for the URLs fastproc fetches (input references) or calls (callbacks), and the one
HTTP client that obeys them.

By default only http(s) URLs whose host resolves to public addresses are allowed, so a
request cannot make a worker read the cloud metadata service, Redis or anything else on the
private network (SSRF). Every resolved address is checked, not just the first, and an IPv6
address that carries an IPv4 one (mapped, compatible, NAT64, 6to4, Teredo) is judged by the
IPv4 it carries too.

Checking a name and then letting the HTTP client resolve it again to connect would let a
name answer a public address to the check and a private one to the connect (DNS
rebinding). So the check lives in the client's network backend: a host is resolved once,
when a connection opens, and the socket goes to an address that was checked. The Host
header, TLS SNI and certificate verification still use the name. Every request of a fetch
or callback client goes through it: references, each redirect hop, and callbacks.

The socket itself is opened by a lower-level network backend, httpcore's AnyIO one unless
another is given (`network`): tests must observe which vetted address a connection goes to
without reaching it when that address is not on loopback. httpx's transport takes no
backend: `fastproc._httpx` gives it one (the only place touching httpx's internals).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

from fastproc._httpx import BackendTransport
from fastproc.settings import Settings

#: Answers the addresses (IP strings, preferred first) a host name has for a TCP port.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

#: IPv6 ranges whose last 32 bits are an IPv4 address the packet really goes to.
_IPV4_IN_LAST_32_BITS = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated, RFC 4291)
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
)
#: Local-use NAT64 (RFC 8215): never global, and the IPv4 sits at an operator-chosen offset.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


class AddressNotAllowed(ValueError):
    """A URL whose scheme or host this server refuses to contact."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's answer for `host`, in its order of preference, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: str) -> bool:
    """Whether `address` is globally routable and reaches no private IPv4 through IPv6.

    >>> is_public_address("93.184.216.34"), is_public_address("::ffff:127.0.0.1")
    (True, False)
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_public_ip(ip)
    if ip in _LOCAL_NAT64:
        return False
    return _is_public_ip(ip) and all(_is_public_ip(v4) for v4 in _embedded_ipv4(ip))


def _is_public_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return bool(ip.is_global) and not ip.is_multicast


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    found = [ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
             for network in _IPV4_IN_LAST_32_BITS if ip in network]
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)  # the Teredo server and the client it relays to
    return found


def check_url_syntax(url: str, settings: Settings) -> str:
    """Scheme and host checks that need no DNS (the API runs them before accepting a job)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in settings.allowed_schemes:
        allowed = ", ".join(settings.allowed_schemes)
        raise AddressNotAllowed(f"scheme '{parts.scheme}' is not allowed (allowed: {allowed})")
    host = parts.hostname
    if not host:
        raise AddressNotAllowed(f"'{url}' has no host")
    if not settings.allow_private_addresses:
        if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".local"):
            raise AddressNotAllowed(f"host '{host}' is not a public address")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return host
        if not is_public_address(str(literal)):
            raise AddressNotAllowed(f"address {host} is not a public address")
    return host


def vet_addresses(host: str, addresses: Sequence[str], settings: Settings) -> list[str]:
    """`addresses` if this server may connect to every one of them (one bad answer spoils all:
    the client would otherwise fall back to it when the good ones fail)."""
    if not addresses:
        raise AddressNotAllowed(f"host '{host}' has no address")
    if not settings.allow_private_addresses:
        for address in addresses:
            if not is_public_address(address):
                raise AddressNotAllowed(
                    f"host '{host}' resolves to {address}, not a public address")
    return list(addresses)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens every TCP connection of a client to an address that passed `vet_addresses`."""

    def __init__(self, settings: Settings, resolver: Resolver = system_resolver,
                 network: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._settings = settings
        self._resolver = resolver
        # Only ever asked for vetted addresses. Replaceable so that tests can see the
        # target of a connection without sending a packet to a non-loopback address.
        self._network = network or httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                found = await self._resolver(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"host '{host}' does not resolve: {exc}") from exc
        addresses = vet_addresses(host, found, self._settings)
        failures: list[httpcore.ConnectError | httpcore.ConnectTimeout] = []
        for address in addresses:
            try:
                return await self._network.connect_tcp(
                    address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failures.append(exc)
        tried = "; ".join(f"{address}: {type(exc).__name__} {exc}"
                          for address, exc in zip(addresses, failures, strict=True))
        raise type(failures[-1])(
            f"cannot connect to {host} port {port} ({tried})") from failures[-1]

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


def pinned_client(settings: Settings, timeout: float, resolver: Resolver = system_resolver,
                  verify: ssl.SSLContext | bool = True,
                  network: httpcore.AsyncNetworkBackend | None = None) -> httpx.AsyncClient:
    """The client for references and callbacks: it connects only where the rules allow.

    It never follows redirects itself: the caller checks each hop's scheme first.
    `network` opens the sockets to vetted addresses (`PinnedBackend`; tests only).
    """
    transport = BackendTransport(PinnedBackend(settings, resolver, network), verify)
    return httpx.AsyncClient(transport=transport,
                             timeout=timeout, follow_redirects=False, trust_env=False)
