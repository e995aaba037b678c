"""The gateway's reply reader on a Redis Cluster: reply streams on different slots, one reader each."""

from __future__ import annotations

import asyncio

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, slot
from aiwf.gateway.replies import Replies
from tests.cluster.cluster_events import CountedElsewhere
from tests.events import ItemCounted


async def test_replies_on_two_slots_reach_their_waiters(cclient: Redis, cluster_config: BusConfig) -> None:
    """A reply on each of two streams of different slots resolves the request that caused it."""
    streams = [keys.stream("testing"), keys.stream("elsewhere")]
    assert slot(streams[0]) != slot(streams[1])
    replies = Replies(
        cluster_config.redis_url or "", cluster_config, streams, ["testing.item.counted", "elsewhere.item.counted"]
    )
    await replies.start()
    pub = Publisher(cclient, cluster_config)
    try:
        with replies.waiting("req-1") as first, replies.waiting("req-2") as second:
            await pub.publish(ItemCounted(source_title="a", n=1), causation_id="req-1")
            await pub.publish(CountedElsewhere(source_title="b", n=2), causation_id="req-2")
            got = await asyncio.wait_for(asyncio.gather(first, second), 10)
        assert [env.type for env in got] == ["testing.item.counted", "elsewhere.item.counted"]
        assert [env.causation_id for env in got] == ["req-1", "req-2"]
    finally:
        await replies.stop()
