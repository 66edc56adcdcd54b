"""The API's event hub listens on the events channel only while a request waits for a job
or streams its events (and a linger after): an idle or async-only API makes Redis write it
nothing. A request that waits is subscribed before it registers, so it hears its job end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import orjson
import pytest
from redis.asyncio import Redis

from fastproc.redis import connect
from fastproc.settings import Settings
from fastproc.store.event_hub import EventHub

LINGER = 0.2


@dataclass
class Hub:
    hub: EventHub
    publisher: Redis
    channel: str

    async def subscribers(self) -> int:
        counts = await self.publisher.pubsub_numsub(self.channel)
        return int(counts[0][1])

    async def until_subscribers(self, n: int) -> None:
        """Until the channel has `n` subscribers (the hub's (un)subscription landed)."""
        async with asyncio.timeout(10):
            for _ in range(100_000):
                if await self.subscribers() == n:
                    return
                await asyncio.sleep(0.01)

    async def end(self, job_id: str) -> int:
        return int(await self.publisher.publish(self.channel, orjson.dumps(
            {"jobID": job_id, "status": "successful", "message": "finished"})))


@pytest.fixture
async def hub(redis_url: str, key_prefix: str) -> AsyncIterator[Hub]:
    settings = Settings(redis_url=redis_url)
    listener, publisher = connect(settings, socket_timeout=None), connect(settings)
    made = Hub(EventHub(listener, f"{key_prefix}:hub:{uuid.uuid4().hex}", linger=LINGER),
               publisher, "")
    made.channel = made.hub.channel
    try:
        yield made
    finally:
        await made.hub.stop()
        await listener.aclose()
        await publisher.aclose()


@pytest.mark.anyio
async def test_an_idle_hub_is_not_subscribed(hub: Hub) -> None:
    assert await hub.subscribers() == 0
    assert await hub.end("nobody-waits") == 0  # Redis writes this event to no one


@pytest.mark.anyio
async def test_a_waiting_request_is_subscribed_before_it_registers_then_the_hub_stops(
        hub: Hub) -> None:
    async with hub.hub.watch("job-1") as ended:
        assert await hub.subscribers() == 1  # already, without waiting
        assert await hub.end("job-1") == 1
        async with asyncio.timeout(10):
            await ended.wait()
        assert ended.payload is not None and ended.payload["jobID"] == "job-1"
    assert await hub.subscribers() == 1  # lingers
    await hub.until_subscribers(0)


@pytest.mark.anyio
async def test_a_request_during_the_linger_keeps_the_subscription(hub: Hub) -> None:
    async with hub.hub.watch("job-1"):
        pass
    async with hub.hub.stream("job-2") as events:  # within the linger
        assert await hub.subscribers() == 1
        await asyncio.sleep(LINGER * 2)  # past the first request's linger: still listening
        assert await hub.subscribers() == 1
        assert await hub.end("job-2") == 1
        async with asyncio.timeout(10):
            event = await events.get()
        assert event is not None and event["jobID"] == "job-2"
    await hub.until_subscribers(0)


@pytest.mark.anyio
async def test_the_hub_listens_again_after_it_stopped(hub: Hub) -> None:
    async with hub.hub.watch("job-1"):
        pass
    await hub.until_subscribers(0)
    async with hub.hub.watch("job-2") as ended:
        assert await hub.end("job-2") == 1
        async with asyncio.timeout(10):
            await ended.wait()
        assert ended.payload is not None and ended.payload["jobID"] == "job-2"


@pytest.mark.anyio
async def test_a_listener_that_ended_is_replaced_by_the_next_request(hub: Hub) -> None:
    async with hub.hub.watch("job-1"):
        listener = hub.hub._task
        assert listener is not None
        listener.cancel()  # as if a bug had ended it
        with pytest.raises(asyncio.CancelledError):
            await listener
    await hub.until_subscribers(0)
    async with hub.hub.watch("job-2") as ended:
        assert await hub.end("job-2") == 1
        async with asyncio.timeout(10):
            await ended.wait()
