"""An outage is evidence about a backend, never about one event (issue 10, defect 1), with the
default retry policy: events failing for their own reasons neither pause nor stall the rest."""

from __future__ import annotations

import asyncio
from collections import Counter

import redis.asyncio as aioredis

from aiwf.bus import Context, PermanentError, Publisher, Subscription, TransientError, keys
from aiwf.bus.config import BusConfig
from aiwf.schemas import Event
from tests.contract.harness import drain, running
from tests.events import ItemCreated


async def test_five_permanent_failures_then_a_good_event_is_handled_and_nothing_pauses(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """Five events that fail permanently in a row are dead-lettered; the sixth is handled; no pause."""
    done: list[str] = []
    states: set[str] = set()
    sub = Subscription(stream="testing", group="perm")

    @sub.handler
    async def handle(event: ItemCreated, ctx: Context) -> list[Event]:
        if event.title.startswith("bad"):
            raise PermanentError(f"{event.title} can never be handled")
        done.append(event.title)
        return []

    pub = Publisher(client, config)
    for i in range(5):
        await pub.publish(ItemCreated(title=f"bad{i}"))
    await pub.publish(ItemCreated(title="good"))
    async with running(sub, config) as consumer:
        for _ in range(200):
            states.add(consumer.state)
            if done:
                break
            await asyncio.sleep(0.02)
        await drain(client, sub)
        assert consumer.stats.dead_lettered == 5
    assert done == ["good"]
    assert "paused" not in states
    assert await client.xlen(keys.dead_letters("testing")) == 5


async def test_events_that_each_fail_twice_all_finish_with_the_default_policy(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """100 events, each failing its first two deliveries with a transient error and succeeding on
    the third: all are committed (the drain's bound is liveness, not speed), each handled exactly
    three times, none dead-lettered."""
    calls: Counter[str] = Counter()
    sub = Subscription(stream="testing", group="flaky")

    @sub.handler
    async def handle(event: ItemCreated, ctx: Context) -> list[Event]:
        calls[event.title] += 1
        if calls[event.title] <= 2:
            raise TransientError(f"{event.title}: try again")
        return []

    titles = [f"t{i}" for i in range(100)]
    await Publisher(client, config).publish_many([ItemCreated(title=t) for t in titles])
    async with running(sub, config) as consumer:
        await drain(client, sub, timeout_s=60)
        assert consumer.stats.processed == 100
        assert consumer.stats.dead_lettered == 0
    assert calls == dict.fromkeys(titles, 3)
