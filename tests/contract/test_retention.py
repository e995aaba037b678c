"""Retention keeps every entry some group has not acknowledged."""

from __future__ import annotations

from collections import Counter

import redis.asyncio as aioredis

from aiwf.bus import Context, Publisher, Subscription, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.groups import ensure_group
from aiwf.bus.retention import trim
from aiwf.schemas import Event
from tests.contract.harness import drain, running
from tests.events import ItemCreated


async def test_slow_groups_unread_events_survive_retention(client: aioredis.Redis, config: BusConfig) -> None:
    """A fast group acks everything, a slow one reads nothing: trimming keeps all the slow group's events."""
    stream = keys.stream("testing")
    pub = Publisher(client, config)
    await ensure_group(client, stream, "slow")
    seen: Counter[str] = Counter()
    fast = Subscription(stream="testing", group="fast")

    @fast.handler
    async def take(event: ItemCreated, ctx: Context) -> list[Event]:
        seen[event.title] += 1
        return []

    for i in range(50):
        await pub.publish(ItemCreated(title=f"e{i}"))
    async with running(fast, config):
        await drain(client, fast)
    report = await trim(client, stream, keep=5, alarm_at=10)
    assert report.trimmed == 0
    assert await client.xlen(stream) == 50
    assert report.alarm  # 50 unacknowledged entries is past the bound of 10

    late = Subscription(stream="testing", group="slow")
    got: Counter[str] = Counter()

    @late.handler
    async def take_late(event: ItemCreated, ctx: Context) -> list[Event]:
        got[event.title] += 1
        return []

    async with running(late, config):
        await drain(client, late)
    assert got == seen == Counter({f"e{i}": 1 for i in range(50)})
    report = await trim(client, stream, keep=5, alarm_at=10)
    assert report.trimmed == 45
    assert await client.xlen(stream) == 5
    assert not report.alarm


async def test_stream_without_groups_is_never_trimmed(client: aioredis.Redis, config: BusConfig) -> None:
    """With no group yet, nobody has acknowledged anything: nothing is trimmed."""
    pub = Publisher(client, config)
    for i in range(20):
        await pub.publish(ItemCreated(title=f"e{i}"))
    report = await trim(client, keys.stream("testing"), keep=1)
    assert report.trimmed == 0
    assert await client.xlen(keys.stream("testing")) == 20


async def test_event_store_streams_are_never_trimmed(client: aioredis.Redis, config: BusConfig) -> None:
    """A category stream of the event store keeps every entry even when every group has acknowledged it."""
    stream = keys.stream("es-testing")
    for i in range(30):
        await client.xadd(stream, {"n": str(i)})
    await client.xgroup_create(stream, "proj", id="$")
    report = await trim(client, stream, keep=1)
    assert report.trimmed == 0
    assert await client.xlen(stream) == 30
