"""Drive one Consumer in-process against the test Redis until a condition holds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import redis.asyncio as aioredis

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.consume import Consumer
from aiwf.bus.handler import Subscription
from aiwf.bus.testing import wait_until
from tests.replies import Entries, Fields


@contextlib.asynccontextmanager
async def running(sub: Subscription, config: BusConfig, service: str = "tests") -> AsyncIterator[Consumer]:
    """A consumer running in a task; stopped gracefully on exit."""
    client = connect(config.redis_url or "", config)
    consumer = Consumer(client, config, sub, service)
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)
        await client.aclose()


async def drained(client: aioredis.Redis, sub: Subscription) -> bool:
    """True when the group has read everything on its stream and has nothing pending."""
    stream = keys.stream(sub.stream)
    if not await client.exists(stream):
        return False
    info = await client.xinfo_groups(stream)
    group = next((g for g in info if g["name"].decode() == sub.group), None)
    if group is None or group["pending"]:
        return False
    last = await client.xrevrange(stream, count=1)
    return not last or group["last-delivered-id"] == last[0][0]


async def drain(client: aioredis.Redis, sub: Subscription, timeout_s: float = 15.0) -> None:
    """Wait until `drained`."""
    await wait_until(lambda: drained(client, sub), timeout_s, f"{sub.group} to drain {sub.stream}")


async def entries(client: aioredis.Redis, domain: str) -> list[Fields]:
    """Every entry's fields on a domain stream, oldest first."""
    return [fields for _, fields in cast("Entries", await client.xrange(keys.stream(domain)))]


Check = Callable[[], Awaitable[bool]]
