"""fastproc's arq worker loop: claim a batch of jobs in one round trip, and sleep until a
nudge instead of polling.

arq's own loop claims jobs one at a time (WATCH, EXISTS, ZSCORE, MULTI, PSETEX, EXEC: four
round trips per job) and polls every `poll_delay`. Here one Lua call claims up to the free
capacity, enqueuers publish a nudge on `{p}:wake:{queue}` so an idle worker starts at once,
and the poll delay becomes a fallback that costs a few commands per second when idle.

A claim is a lease: arq's in-progress key lives `lease` seconds and the worker renews the keys
of the tasks it runs every third of that, so a task whose worker died runs again within
one lease, however long its time limit (arq's own loop keeps the key for the longest time
limit, which is also how long a crashed worker's task would wait).
Everything else — running jobs, retries, aborts, timeouts, health checks, signals — is
arq's unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from arq.connections import log_redis_info
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from fastproc.pubsub import listen_forever

# ARGV: 1 queue, 2 now (ms), 3 in-progress ttl (ms), 4 how many to claim, 5 prefix,
#       6 how many queue entries to look at, at most
# Returns id, score, id, score... of the jobs this worker now owns. Jobs stay in the queue
# while they run, so the first entries are often taken: the scan pages past them.
CLAIM = """
local want = tonumber(ARGV[4])
local budget = tonumber(ARGV[6])
local page = math.max(want * 2, 64)
local out = {}
local offset = 0
while #out < want * 2 and offset < budget do
  local ids = redis.call('ZRANGEBYSCORE', ARGV[1], '-inf', ARGV[2], 'WITHSCORES',
                         'LIMIT', offset, page)
  if #ids == 0 then break end
  for i = 1, #ids, 2 do
    if #out >= want * 2 then break end
    if redis.call('SET', ARGV[5] .. ids[i], '1', 'PX', ARGV[3], 'NX') then
      out[#out + 1] = ids[i]
      out[#out + 1] = ids[i + 1]
    end
  end
  offset = offset + page
end
return out
"""

#: Queue entries one claim looks at, at most (jobs running elsewhere are skipped over).
CLAIM_SCAN = 4096

#: Seconds between checks of arq's abort set while jobs run.
ABORT_CHECK_INTERVAL = 0.1


class NudgedWorker(Worker):
    """An arq `Worker` that claims in batches and wakes on nudges (see the module doc)."""

    def __init__(self, *args: Any, wake_channel: str, listener: Redis, lease: float,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lease_ms = int(lease * 1000)
        self._last_renewal = 0.0
        self._wake = asyncio.Event()
        self._wake_channel = wake_channel
        self._listener = listener
        self._saturated = False
        self._last_abort_check = 0.0
        self._claim_script: Any = None

    async def main(self) -> None:
        logger.info("worker for {} on queue {}", ", ".join(self.functions), self.queue_name)
        await log_redis_info(self.pool, logger.info)
        self.ctx["redis"] = self.pool
        self._claim_script = self.pool.register_script(CLAIM)
        if self.on_startup:
            await self.on_startup(self.ctx)
        nudges = asyncio.create_task(self._listen_for_nudges(), name="fastproc-nudges")
        backoff = 0.1
        try:
            while True:
                try:
                    await self._poll_iteration()
                    backoff = 0.1
                except (RedisError, OSError) as exc:
                    # Redis went away: keep the jobs we run, retry with backoff.
                    logger.warning("cannot poll the queue ({}); retrying in {:.1f}s", exc,
                                   backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if self.burst and not self.tasks and not await self.pool.zcard(self.queue_name):
                    return  # burst mode (as arq's): stop once the queue is drained
                if self._saturated:
                    await asyncio.sleep(0)  # more is queued: claim again once a slot frees
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_delay_s)
                self._wake.clear()
        finally:
            nudges.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await nudges
            await self._listener.aclose()

    async def _poll_iteration(self) -> None:
        free = self.max_jobs - self.job_counter
        if self.allow_pick_jobs and free > 0:
            claimed = await self._claim_script(args=[
                self.queue_name, timestamp_ms(), self._lease_ms, free,
                in_progress_key_prefix, CLAIM_SCAN])
            for i in range(0, len(claimed), 2):
                await self._start(claimed[i].decode(), int(float(claimed[i + 1])))
            self._saturated = len(claimed) // 2 == free
        now = time.monotonic()
        # Queued jobs are checked against the abort set when they start (arq's run_job), so
        # an idle worker need not look; a busy one looks at most every 0.1 s.
        if self.allow_abort_jobs and self.tasks and \
                now - self._last_abort_check >= ABORT_CHECK_INTERVAL:
            self._last_abort_check = now
            await self._cancel_aborted_jobs()
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                task.result()
        if self.tasks and now - self._last_renewal >= self._lease_ms / 3000:
            self._last_renewal = now
            await self._renew_leases()
        await self.heart_beat()

    async def _renew_leases(self) -> None:
        """Push back the in-progress keys of the tasks this worker runs (see the module
        doc); a key already gone (the task ended meanwhile) is not recreated."""
        async with self.pool.pipeline(transaction=False) as pipe:
            for job_id in self.tasks:
                pipe.pexpire(in_progress_key_prefix + job_id, self._lease_ms)
            await pipe.execute()

    async def _start(self, job_id: str, score: int) -> None:
        await self.sem.acquire()  # a slot is free (we claimed at most that many): no wait
        self.job_counter += 1
        task = self.loop.create_task(self.run_job(job_id, score))
        task.add_done_callback(self._job_done)
        self.tasks[job_id] = task

    def _job_done(self, _: asyncio.Task[None]) -> None:
        self._release_sem_dec_counter_on_complete()
        if self._saturated:
            self._wake.set()

    async def _listen_for_nudges(self) -> None:
        # On every (re)connection: jobs may have been queued while we were away.
        await listen_forever(self._listener, self._wake_channel, lambda _: self._wake.set(),
                             self._wake.set, "nudge")
