"""Optional access control: API keys (or bearer tokens) from settings.

Off unless keys are configured. Then execution and job routes need a key; a read-only key
may list and describe processes but not execute or see jobs; every job belongs to the
caller that created it, and another caller's job answers 404, as if it did not exist, so
job ids leak nothing. Keys are compared in constant time and never logged. `/metrics` has
a key of its own (`FASTPROC_METRICS_KEY`): a scraper is not a tenant.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from starlette.requests import Request

from fastproc.ogc.exceptions import Forbidden, Unauthorized
from fastproc.settings import Settings


@dataclass(frozen=True, slots=True)
class Caller:
    name: str
    can_execute: bool


def _parse(entries: list[str], can_execute: bool) -> list[tuple[bytes, Caller]]:
    """`name:key` entries; a bare key gets a generated name (its jobs are still its own)."""
    parsed: list[tuple[bytes, Caller]] = []
    for entry in entries:
        name, sep, key = entry.partition(":")
        if not sep:
            name, key = f"key{len(parsed)}", entry
        parsed.append((key.encode(), Caller(name, can_execute)))
    return parsed


class KeyRing:
    def __init__(self, settings: Settings) -> None:
        self._keys = (_parse(settings.api_keys, True)
                      + _parse(settings.read_only_keys, False))

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def identify(self, presented: str | None) -> Caller | None:
        """The caller a key belongs to; every configured key is compared, in constant time."""
        if not presented:
            return None
        given = presented.encode()
        found: Caller | None = None
        for key, caller in self._keys:
            if hmac.compare_digest(key, given):
                found = caller
        return found


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.headers.get("x-api-key")


def authenticate(request: Request, ring: KeyRing, *, execute: bool) -> Caller | None:
    """The caller of a job or execution route (None when access control is off)."""
    if not ring.enabled:
        return None
    caller = ring.identify(presented_key(request))
    if caller is None:
        raise Unauthorized("this route needs an API key (Authorization: Bearer <key>)",
                           headers={"WWW-Authenticate": 'Bearer realm="fastproc"'})
    if not caller.can_execute:
        what = "execute processes" if execute else "see jobs"
        raise Forbidden(f"a read-only key cannot {what}")
    return caller


def require_metrics_key(request: Request, metrics_key: str | None) -> None:
    """`/metrics` needs its own key when one is set (a scraper is not a tenant), else none."""
    if not metrics_key:
        return
    presented = presented_key(request) or ""
    if not hmac.compare_digest(presented.encode(), metrics_key.encode()):
        raise Unauthorized("/metrics needs the metrics key (Authorization: Bearer <key>)",
                           headers={"WWW-Authenticate": 'Bearer realm="fastproc-metrics"'})


def visible(record_owner: str | None, caller: Caller | None) -> bool:
    """Whether a caller may see a job: anyone when access control is off, else its owner."""
    return caller is None or record_owner == caller.name
