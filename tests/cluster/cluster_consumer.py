"""A consumer process on the Redis Cluster: one CountedElsewhere (another slot) per ItemCreated, group `crash`.

python -m tests.cluster.cluster_consumer REDIS_URL [HANDLER_DELAY_S]
"""

from __future__ import annotations

import asyncio
import sys

from aiwf.bus import Context, RetryPolicy, Subscription
from aiwf.bus.config import BusConfig
from aiwf.bus.worker import Service, run_service
from aiwf.schemas import Event
from tests.cluster.cluster_events import CountedElsewhere
from tests.events import ItemCreated

DELAY_S = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
sub = Subscription(
    stream="testing",
    group="crash",
    batch=100,
    retry=RetryPolicy(reclaim_idle_s=1.0, backoff_base_s=0.01, backoff_max_s=0.1),
)


@sub.handler
async def count(event: ItemCreated, ctx: Context) -> list[Event]:
    if DELAY_S:
        await asyncio.sleep(DELAY_S)
    return [CountedElsewhere(source_title=event.title, n=event.quantity)]


if __name__ == "__main__":
    url = sys.argv[1]
    run_service(Service("crash", [sub]), BusConfig(redis_url=url, producer="crash"), url, None)
