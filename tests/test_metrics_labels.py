"""Label sets stay bounded whatever producers write: never an event id, never a type the subscription lacks."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.metrics.figures import OTHER, OUTCOMES
from aiwf.bus.server import free_port
from aiwf.bus.testing import wait_until
from tests.events import ItemCreated
from tests.metrics_support import label_sets, parse, samples, scrape, value
from tests.test_metrics import HANDLED, metered_service
from tests.worker_support import get_health, new_worker, running_worker

N = 40


async def test_foreign_types_and_many_ids_add_no_series(client: aioredis.Redis, config: BusConfig) -> None:
    """40 events with distinct ids and 40 foreign entries with 40 made-up types: the handled counter keeps at
    most one series per (known type or `other`, outcome), and no id or made-up type appears in /metrics."""
    port = free_port()
    worker = new_worker(metered_service("bounded"), config, port)
    junk_types = [f"junk.t{uuid.uuid4().hex[:8]}.made" for _ in range(N)]
    async with running_worker(worker):
        await wait_until(lambda: _listening(port), 10, "the health server")
        ids = [await Publisher(client, config).publish(ItemCreated(title=f"ok-{i}")) for i in range(N)]
        for t in junk_types:
            await client.xadd(keys.stream("testing"), {"id": uuid.uuid4().hex, "type": t, "body": b"{}"})

        async def counted() -> bool:
            found = await samples(port)
            return (
                value(found, HANDLED, outcome="committed") == N and value(found, HANDLED, outcome="dead_lettered") == N
            )

        await wait_until(counted, 15, "every event to be counted")
        _, body = await asyncio.to_thread(scrape, port)
    found = parse(body)
    types = {labels["type"] for labels in label_sets(found, HANDLED)}
    assert types <= {"testing.item.created", OTHER}
    assert value(found, HANDLED, type=OTHER, outcome="dead_lettered") == N
    assert len(label_sets(found, HANDLED)) <= 2 * len(OUTCOMES)
    assert not [i for i in ids if i in body]
    assert not [t for t in junk_types if t in body]


async def _listening(port: int) -> bool:
    return await get_health(port) is not None
