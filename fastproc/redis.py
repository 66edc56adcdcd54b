"""Connections to Redis with timeouts and retries, built from settings (never at import).

These are plain redis.asyncio clients: the API enqueues through `fastproc.wire.enqueue`
and never loads arq. The worker's own connection (an `ArqRedis`) is built by the arq
adapter from the same options (`fastproc.worker.arq_loop.connect_worker`). Both go through
`client_for` and `with_fast_paths`: redis-py's internals are touched in `fastproc._redis`
only.

`FASTPROC_REDIS_URL` names one server (`redis://`, `rediss://`, `unix://`) or a Sentinel
group (`redis+sentinel://`, `rediss+sentinel://`; `SentinelTarget`): then every connection
asks the Sentinels where the primary is each time it connects, so after a failover each
one reconnects to the new primary on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fastproc._redis import packing_in_c
from fastproc.settings import Settings

DEFAULT_URL = "redis://127.0.0.1:6379/0"
SENTINEL_PORT = 26379
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}  # scheme: TLS
#: Query options of a Sentinel URL: the Sentinels' own credentials, and TLS files.
SENTINEL_OPTIONS = frozenset({"sentinel_username", "sentinel_password", "ssl_ca_certs",
                              "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"})
_CERT_REQS = frozenset({"none", "optional", "required"})
R = TypeVar("R", bound=Redis)


class RedisURLError(ValueError):
    """`FASTPROC_REDIS_URL` cannot be understood (said at start-up, with what is wrong)."""


@dataclass(frozen=True)
class SentinelTarget:
    """A Sentinel group and the primary it watches, from
    `redis+sentinel://[user:password@]host1:26379,host2:26379/service/db[?options]`.

    The user and password are the primary's (and its replicas'); the Sentinels' own, if
    they have any, are the `sentinel_username` / `sentinel_password` options.
    `rediss+sentinel://` speaks TLS to the Sentinels and to the primary alike, verified
    against `ssl_ca_certs` (`ssl_certfile` / `ssl_keyfile`: a client certificate;
    `ssl_cert_reqs`: none, optional or required, the default).

    >>> SentinelTarget.parse("redis+sentinel://h1:26379,h2/mymaster/0").sentinels
    (('h1', 26379), ('h2', 26379))
    """

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, url: str) -> SentinelTarget:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in SENTINEL_SCHEMES:
            raise RedisURLError(f"not a Sentinel URL (redis+sentinel:// or "
                                f"rediss+sentinel://): {_redacted(url)}")
        rest, _, query = rest.partition("?")
        netloc, _, path = rest.partition("/")
        userinfo, at, hosts = netloc.rpartition("@")
        username = password = None
        if at:
            user, colon, secret = userinfo.partition(":")
            username, password = (unquote(user) or None), (unquote(secret) if colon else None)
        parts = [p for p in path.split("/") if p]
        if not 1 <= len(parts) <= 2:
            raise RedisURLError("a Sentinel URL names the service and an optional database: "
                                "redis+sentinel://host:26379,host:26379/mymaster/0")
        db = parts[1] if len(parts) == 2 else "0"
        if not db.isdigit() or len(db) > 4:
            raise RedisURLError(f"the database of a Sentinel URL is a number, not {db!r}")
        options = dict(parse_qsl(query, keep_blank_values=True))
        unknown = sorted(set(options) - SENTINEL_OPTIONS)
        if unknown:
            raise RedisURLError(f"unknown options in the Sentinel URL: {', '.join(unknown)} "
                                f"(known: {', '.join(sorted(SENTINEL_OPTIONS))})")
        if options.get("ssl_cert_reqs", "required") not in _CERT_REQS:
            raise RedisURLError("ssl_cert_reqs is none, optional or required")
        return cls(tuple(_address(h) for h in hosts.split(",")), unquote(parts[0]), int(db),
                   username, password, SENTINEL_SCHEMES[scheme.lower()], options)

    def master_for(self, cls: type[R], options: dict[str, Any]) -> R:
        """A client of class `cls` whose connections go to the current primary."""
        tls = self._tls()
        timeout = options["socket_connect_timeout"]
        sentinel_kwargs: dict[str, Any] = {
            "socket_timeout": timeout, "socket_connect_timeout": timeout,
            "username": self.options.get("sentinel_username"),
            "password": self.options.get("sentinel_password"), **tls}
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(self.sentinels), sentinel_kwargs=sentinel_kwargs)
        client: R = sentinel.master_for(self.service, redis_class=cls, db=self.db,
                                        username=self.username, password=self.password,
                                        **tls, **options)
        return client

    def _tls(self) -> dict[str, Any]:
        if not self.tls:
            return {}
        files = {k: v for k, v in self.options.items()
                 if k in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")}
        return {"ssl": True, "ssl_cert_reqs": self.options.get("ssl_cert_reqs", "required"),
                **files}


def _address(host: str) -> tuple[str, int]:
    """`host[:port]` (`[v6]:port`), the port 26379 when not given."""
    host = host.strip()
    if host.startswith("["):
        name, _, port = host[1:].partition("]")
        port = port.removeprefix(":")
    else:
        name, _, port = host.rpartition(":") if ":" in host else (host, "", "")
    if not name:
        raise RedisURLError(f"a Sentinel URL lists host:port pairs, not {host!r}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise RedisURLError(f"not a port: {port!r}")
    return name, int(port) if port else SENTINEL_PORT


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"[:200]


def sentinel_target(settings: Settings) -> SentinelTarget | None:
    """The Sentinel group `FASTPROC_REDIS_URL` names, or None for one server."""
    url = redis_url(settings)
    if url.partition("://")[0].lower() not in SENTINEL_SCHEMES:
        return None
    return SentinelTarget.parse(url)


def redis_url(settings: Settings) -> str:
    """The Redis fastproc talks to (`FASTPROC_REDIS_URL`, or the local default)."""
    return settings.redis_url or DEFAULT_URL


def connection_options(settings: Settings, *,
                       socket_timeout: float | None = -1.0) -> dict[str, Any]:
    """Keyword arguments of `Redis.from_url`: timeouts, retries with backoff, keepalive.

    `socket_timeout=None` gives a connection that may block forever, as a pub/sub
    listener must; the default is the configured Redis timeout.

    A connection with a timeout retries a lost connection but not a timeout: a server that
    did not answer in time is frozen or swamped, and waiting again multiplies the caller's
    wait (a frozen Valkey held every API request 33 s: six 5-s timeouts and the backoff),
    while the command may have been applied and must not be sent twice. Such a connection
    also connects within its timeout, so a call waits one timeout at most per try.
    """
    timeout = settings.redis_timeout if socket_timeout == -1.0 else socket_timeout
    retried: tuple[type[RedisError], ...] = (RedisConnectionError,)
    if timeout is None:
        retried += (RedisTimeoutError,)  # only connecting can time out
    return {
        "socket_timeout": timeout,
        "socket_connect_timeout": (settings.redis_timeout if timeout is None
                                   else min(timeout, settings.redis_timeout)),
        # Retry's own default would add timeouts back: the errors are given to both.
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.05), settings.redis_retries,
                       supported_errors=retried),
        "retry_on_error": list(retried),
        "health_check_interval": 30,
        "socket_keepalive": True,
    }


def client_for(cls: type[R], settings: Settings, *,
               socket_timeout: float | None = -1.0) -> R:
    """A client of class `cls` (Redis, or arq's subclass) for these settings: of the one
    server, or of the Sentinel group's primary (see `connection_options`)."""
    options = connection_options(settings, socket_timeout=socket_timeout)
    target = sentinel_target(settings)
    client: R = (cls.from_url(redis_url(settings), **options) if target is None
                 else target.master_for(cls, options))
    return with_fast_paths(client, settings)


def connect(settings: Settings, *, socket_timeout: float | None = -1.0) -> Redis:
    """A redis.asyncio client for these settings (see `client_for`)."""
    return client_for(Redis, settings, socket_timeout=socket_timeout)


def with_fast_paths(client: R, settings: Settings) -> R:
    """`client` with the speed hooks of `fastproc._redis` (hiredis packing, the quiet check
    before each loan) unless `FASTPROC_FAST_PATHS` is off; its connections are not open
    yet. Every connection fastproc builds from settings goes through here."""
    return packing_in_c(client) if settings.fast_paths else client
