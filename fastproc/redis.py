"""Connections to Redis with timeouts and retries, built from settings (never at import)."""

from __future__ import annotations

from arq.connections import ArqRedis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fastproc.settings import Settings

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def connect(settings: Settings, *, socket_timeout: float | None = -1.0) -> ArqRedis:
    """An `ArqRedis` (a redis.asyncio client that can also enqueue arq jobs).

    `socket_timeout=None` gives a connection that may block forever, as a pub/sub
    listener must; the default is the configured Redis timeout.
    """
    timeout = settings.redis_timeout if socket_timeout == -1.0 else socket_timeout
    client: ArqRedis = ArqRedis.from_url(
        settings.redis_url or DEFAULT_URL,
        socket_timeout=timeout,
        socket_connect_timeout=settings.redis_timeout,
        retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), settings.redis_retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
        socket_keepalive=True,
    )
    # arq's own helpers (enqueue_job, Job.info) read and write JSON, as fastproc's do.
    from fastproc.queue.enqueue import dump_job, load_job

    client.job_serializer = dump_job
    client.job_deserializer = load_job
    return client
