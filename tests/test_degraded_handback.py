"""A consumer whose own backend is missing gives its work back, so a healthy instance of the service does it."""

from __future__ import annotations

import asyncio
from typing import cast

import redis.asyncio as aioredis

from aiwf.bus import BackendUnavailable, Context, Publisher, Subscription, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.consume import Consumer
from aiwf.bus.reclaim import HANDED_BACK_IDLE_MS, PendingRow
from aiwf.bus.retry import RetryPolicy
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event
from tests.events import ItemCounted, ItemCreated
from tests.replies import Entries

POLICY = RetryPolicy(backoff_base_s=0.1, backoff_max_s=0.2, probe_max_s=0.2, reclaim_idle_s=0.6)


def subscription(healthy: bool) -> Subscription:
    sub = Subscription(stream="testing", group="handback", retry=POLICY, batch=10, concurrency=2)

    @sub.handler
    async def count(event: ItemCreated, _ctx: Context) -> list[Event]:
        if not healthy:
            raise BackendUnavailable("engine missing on this host")
        return [ItemCounted(source_title=event.title, n=1)]

    return sub


async def _missing() -> str | None:
    return "engine missing on this host"


async def test_a_degraded_consumer_hands_back_what_it_read_and_a_healthy_one_takes_it(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """Entries read by a consumer whose backend check fails end up idle for the taking (not renewed by it),
    it holds none of them, reads nothing new, and a healthy consumer of the same group commits them all."""
    publisher = Publisher(client, config)
    for i in range(5):
        await publisher.publish(ItemCreated(title=f"t{i}"))
    sick_client = connect(config.redis_url or "", config)
    sick = Consumer(sick_client, config, subscription(healthy=False), "handback", "sick", backend_check=_missing)
    sick_task = asyncio.create_task(sick.run())
    healthy_client = connect(config.redis_url or "", config)
    healthy = Consumer(healthy_client, config, subscription(healthy=True), "handback", "well")
    healthy_task: asyncio.Task[None] | None = None
    try:
        await wait_until(
            lambda: _true(sick.outage.paused and sick.stats.released > 0), 10, "the sick consumer to hand back"
        )
        await asyncio.sleep(1.0)  # several lease periods: a hand-back must not be renewed away
        assert sick.pending == 0
        rows = cast("list[PendingRow]", await client.xpending_range(keys.stream("testing"), "handback", "-", "+", 100))
        assert rows, "the entries are still unacknowledged"
        assert all(r["time_since_delivered"] >= HANDED_BACK_IDLE_MS for r in rows)
        healthy_task = asyncio.create_task(healthy.run())
        await wait_until(lambda: _counted(client, 5), 15, "the healthy consumer to count all five")
        assert healthy.stats.processed == 5
        assert sick.stats.processed == 0
        assert sick.stats.dead_lettered == 0
    finally:
        for consumer in (sick, healthy):
            consumer.stop()
        await asyncio.wait_for(asyncio.gather(sick_task, *([healthy_task] if healthy_task else [])), 10)
        await sick_client.aclose()
        await healthy_client.aclose()


async def test_backend_down_stops_reading_before_any_event_fails(client: aioredis.Redis, config: BusConfig) -> None:
    """backend_down() (the heartbeat's probe failing) pauses the consumer: a new event is never delivered to it."""
    sick_client = connect(config.redis_url or "", config)
    sick = Consumer(sick_client, config, subscription(healthy=False), "handback", "sick", backend_check=_missing)
    sick.backend_down("engine missing on this host")
    task = asyncio.create_task(sick.run())
    try:
        await Publisher(client, config).publish(ItemCreated(title="late"))
        await asyncio.sleep(1.5)
        assert sick.outage.paused
        assert sick.stats.failed == 0
        assert await client.xpending(keys.stream("testing"), "handback") == {
            "pending": 0,
            "min": None,
            "max": None,
            "consumers": [],
        }
    finally:
        sick.stop()
        await asyncio.wait_for(task, 10)
        await sick_client.aclose()


async def _true(value: bool) -> bool:
    return value


async def _counted(client: aioredis.Redis, n: int) -> bool:
    found = cast("Entries", await client.xrange(keys.stream("testing")))
    return sum(1 for _, f in found if f[b"type"] == b"testing.item.counted") >= n
