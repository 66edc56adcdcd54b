"""Which `Host` headers the API answers to.

Without `FASTPROC_BASE_URL`, links (`Location`, `self`, the pages' asset URLs) are built
from the request's `Host`, so a forged `Host` would put an attacker's address into answers
that a cache may keep and serve to others; and a DNS-rebinding page could reach a local
server under a name of its own. So a request whose `Host` is not trusted gets 400.

This is Starlette's `TrustedHostMiddleware` rule (exact names, `*.example.com` for
subdomains, `*` for any) with one difference: the refusal is an OGC exception document,
like every other error of the API, not a plain-text line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from fastproc.api.responses import ProblemResponse
from fastproc.ogc.exceptions import InvalidRequest
from fastproc.settings import Settings

#: RFC 3986 host (a registered name, an IPv4 address or a bracketed IPv6 one) and a port.
_HOST = re.compile(r"(?P<host>[a-z0-9._~!$&'()*+,;=%-]+|\[[0-9a-f:.]+\])(?::[0-9]*)?",
                   re.IGNORECASE)
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})


def trusted_hosts(settings: Settings) -> list[str]:
    """The configured names, plus the host of the public URL and a specific bind address
    (both are names this server is evidently reached by)."""
    names = [name.strip().lower() for name in settings.trusted_hosts if name.strip()]
    if settings.base_url:
        public = urlsplit(settings.base_url).hostname
        if public:
            names.append(f"[{public}]" if ":" in public else public.lower())
    if settings.host not in _WILDCARD_BINDS:
        names.append(f"[{settings.host}]" if ":" in settings.host else settings.host.lower())
    return names


def host_of(header: str | None) -> str | None:
    """The host part of a `Host` header, lowercased; None when it is missing or malformed."""
    if header is None:
        return None
    found = _HOST.fullmatch(header.strip())
    return found.group("host").lower() if found else None


def is_trusted(host: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


class TrustedHosts:
    """Pure ASGI middleware: refuse a request whose `Host` is not trusted, before routing."""

    def __init__(self, app: ASGIApp, patterns: list[str]) -> None:
        for pattern in patterns:
            if "*" in pattern[1:] or (pattern.startswith("*") and
                                      pattern != "*" and not pattern.startswith("*.")):
                raise ValueError(f"trusted host '{pattern}': a wildcard is '*' or "
                                 "'*.example.com'")
        self.app = app
        self.patterns = patterns
        self.allow_any = "*" in patterns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = host_of(Headers(scope=scope).get("host"))
        if host is not None and is_trusted(host, self.patterns):
            await self.app(scope, receive, send)
            return
        # The refused name is not repeated: reflecting it is what this guards against.
        exc = InvalidRequest("this server does not answer to the host this request names "
                             "(its Host header; see FASTPROC_TRUSTED_HOSTS)")
        await ProblemResponse(exc.to_dict(scope.get("path")), status_code=exc.status)(
            scope, receive, send)
