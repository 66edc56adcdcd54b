"""The one module that knows arq beyond its documented surface.

fastproc runs its tasks on arq's `Worker`; what it needs of arq's internals is here.
"""

from __future__ import annotations

from arq.connections import ArqRedis

from fastproc.queue.arq_format import dump_job, load_job
from fastproc.redis import connection_options, redis_url
from fastproc.settings import Settings


def connect_worker(settings: Settings, *, socket_timeout: float | None = None) -> ArqRedis:
    """The worker's connection: an `ArqRedis` (arq's `Worker` expects one) with fastproc's
    options, reading and writing arq's messages as JSON.

    No read timeout by default, as arq's own pools: a cancelled read under `asyncio.timeout`
    can lose the cancellation on Python 3.11 and leave a stopping worker running. Dead peers
    are still noticed (TCP keepalive, health checks, connect timeout).
    """
    client: ArqRedis = ArqRedis.from_url(
        redis_url(settings), **connection_options(settings, socket_timeout=socket_timeout))
    client.job_serializer = dump_job
    client.job_deserializer = load_job
    return client
