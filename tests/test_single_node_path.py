"""On one Redis node the commit keeps its direct path: outputs to another domain go straight there, no outbox."""

from __future__ import annotations

from collections import Counter

import redis.asyncio as aioredis

from aiwf.bus import Context, Publisher, Subscription, keys
from aiwf.bus.commit import Committer
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.store import EventStore
from aiwf.schemas import Envelope, Event, event
from tests.contract.harness import drain, running
from tests.events import ItemCreated


@event("faraway.item.noted", version=1)
class NotedFaraway(Event):
    """An output of another domain than its input's."""

    title: str


async def test_cross_domain_outputs_skip_the_outbox_on_one_node(client: aioredis.Redis, config: BusConfig) -> None:
    """A consumer on a single node writes other-domain outputs directly; no outbox or relay key ever appears."""
    calls: Counter[str] = Counter()
    sub = Subscription(stream="testing", group="direct")

    @sub.handler
    async def note(ev: ItemCreated, ctx: Context) -> list[Event]:
        calls[ev.title] += 1
        return [NotedFaraway(title=ev.title)]

    await Publisher(client, config).publish_many([ItemCreated(title=f"d{i}") for i in range(50)])
    async with running(sub, config) as consumer:
        await drain(client, sub)
        assert consumer.relay is None
    assert await client.xlen(keys.stream("faraway")) == 50
    assert [k async for k in client.scan_iter(match="aiwf:outbox:*")] == []
    assert [k async for k in client.scan_iter(match="aiwf:relay:*")] == []
    bus_client = connect(config.redis_url or "", config)
    assert Committer(bus_client, config).cluster is False
    await EventStore(bus_client, config).append("item-1", [Envelope.wrap(ItemCreated(title="s"), producer="t")])
    assert await client.xlen(keys.GLOBAL_STREAM) == 1  # the global log written by the append itself
    await bus_client.aclose()
