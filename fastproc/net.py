"""Rules for the URLs fastproc fetches (input references) or calls (callbacks).

By default only http(s) URLs whose host resolves to public addresses are allowed, so a
request cannot make a worker read the cloud metadata service, Redis or anything else on the
private network (SSRF). Every resolved address is checked, not just the first.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from fastproc.settings import Settings


class AddressNotAllowed(ValueError):
    """A URL whose scheme or host this server refuses to contact."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return bool(ip.is_global) and not ip.is_multicast


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
        if not _is_public(str(literal)):
            raise AddressNotAllowed(f"address {host} is not a public address")
    return host


async def check_url(url: str, settings: Settings) -> None:
    """Syntax checks, then every address the host resolves to must be public."""
    host = check_url_syntax(url, settings)
    if settings.allow_private_addresses:
        return
    port = urlsplit(url).port or 443
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise AddressNotAllowed(f"host '{host}' does not resolve: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        if not _is_public(address):
            raise AddressNotAllowed(f"host '{host}' resolves to {address}, not a public address")
