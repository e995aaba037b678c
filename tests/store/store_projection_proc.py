"""A test projection over the `item` category, and a process that runs it until killed.

Run as `python tests/store/store_projection_proc.py REDIS_URL NAME` (PYTHONPATH = the repo):
the test SIGKILLs it mid-way and finishes the run in-process.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import cast

import redis.asyncio as aioredis

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.consume import Consumer
from aiwf.bus.retry import RetryPolicy
from aiwf.bus.store import Projection, Writes
from aiwf.schemas import Envelope
from tests.events import ItemCreated

FAST = RetryPolicy(max_deliveries=5, backoff_base_s=0.01, backoff_max_s=0.05, reclaim_idle_s=0.3)


def totals(name: str, calls: Counter[str] | None = None, delay_s: float = 0.0) -> Projection:
    """Quantity per title, a count, and how often each event id was applied; `calls` counts handler runs."""
    proj = Projection(name, "item", retry=FAST, batch=10)

    @proj.handler
    async def on_created(event: ItemCreated, env: Envelope, writes: Writes) -> None:
        if calls is not None:
            calls[env.id] += 1
        if delay_s:
            await asyncio.sleep(delay_s)
        writes.hincrby(proj.key("qty"), event.title, event.quantity)
        writes.hincrby(proj.key("applied"), env.id, 1)
        writes.incrby(proj.key("count"), 1)

    return proj


async def read_state(client: aioredis.Redis, proj: Projection) -> tuple[dict[bytes, bytes], dict[bytes, bytes], int]:
    """(qty per title, applications per event id, count) of a totals projection."""
    qty = cast("dict[bytes, bytes]", await client.hgetall(proj.key("qty")))
    applied = cast("dict[bytes, bytes]", await client.hgetall(proj.key("applied")))
    return qty, applied, int(await client.get(proj.key("count")) or 0)


async def main(url: str, name: str) -> None:
    """Run the projection until the process is killed."""
    config = BusConfig(redis_url=url, producer="tests", marker_ttl_s=3600)
    client = connect(url, config)
    await Consumer(client, config, totals(name, delay_s=0.003).subscription(), "tests").run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
