"""Cross-site request forgery: whether a form post comes from this server's own pages.

A page on any other site can make a visitor's browser post a form here without asking
(no CORS preflight guards a form), and with access control off nothing else would stop it
from starting or dismissing jobs. The JSON routes are safe because they take only
`application/json`, which a cross-site page cannot send without a preflight this server
never grants. So the form routes check where the post came from:

1. `Sec-Fetch-Site`, which browsers set and pages cannot forge: `same-origin` (our own page)
   and `none` (the user typed or bookmarked it) pass, anything else is refused;
2. else `Origin`, then `Referer`, which must name this server's origin: the request's own
   (scheme, Host, port) or that of `FASTPROC_BASE_URL` behind a proxy;
3. a request with none of them is not from a browser (curl, a script) and passes.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends
from starlette.requests import Request

from fastproc.api.state import AppState, get_state
from fastproc.ogc.exceptions import Forbidden

_SAFE_FETCH_SITES = frozenset({"same-origin", "none"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host:port` of a URL with its default port spelled out, or None if it has
    no usable origin (`null`, a relative URL, a bad port)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return f"{scheme}://{parts.hostname}:{port}"


def own_origins(request: Request, configured_base: str | None) -> set[str]:
    """The origins this server's own pages have for this request."""
    candidates = [str(request.base_url)] + ([configured_base] if configured_base else [])
    return {origin for origin in map(origin_of, candidates) if origin}


def check_same_origin(request: Request, configured_base: str | None) -> None:
    """Raise `Forbidden` unless the request comes from this server's pages or no browser."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site.strip().lower() not in _SAFE_FETCH_SITES:
            raise Forbidden(f"a form post from another site is refused "
                            f"(Sec-Fetch-Site: {fetch_site[:32]})")
        return
    for header in ("origin", "referer"):
        claimed = request.headers.get(header)
        if claimed is not None:
            if origin_of(claimed) not in own_origins(request, configured_base):
                raise Forbidden(f"a form post from another origin is refused "
                                f"({header.capitalize()}: {claimed[:200]})")
            return


async def refuse_cross_site(request: Request,
                            state: Annotated[AppState, Depends(get_state)]) -> None:
    """Dependency of the routes that HTML forms post to."""
    check_same_origin(request, state.settings.base_url)
