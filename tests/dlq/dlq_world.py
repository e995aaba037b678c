"""The DLQ tests' world: two handlers on two streams that fail until fixed, and helpers to look at the result."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from dlq_events import ThingHappened, ThingNoted
from typer.testing import Result

from aiwf.bus import Context, PermanentError, Publisher, RetryPolicy, Subscription, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event
from tests.contract.harness import drain, entries, running
from tests.events import ItemCounted, ItemCreated
from tests.replies import Entries

#: Dead-letter on the first failure, so a broken handler fills the DLQ at once.
ONE_SHOT = RetryPolicy(max_deliveries=1, backoff_base_s=0.01, backoff_max_s=0.02, reclaim_idle_s=1.0, outage_after=1000)


@dataclass
class World:
    """Two subscriptions that fail until `fixed`; `calls` counts successful handler runs per name."""

    fixed: bool = False
    calls: Counter[str] = field(default_factory=Counter)

    def subscriptions(self) -> list[Subscription]:
        """`counter` on `testing` (PermanentError) and `things` on `testdlq` (ValueError), while broken."""
        items = Subscription(stream="testing", group="counter", retry=ONE_SHOT)
        things = Subscription(stream="testdlq", group="things", retry=ONE_SHOT)

        @items.handler
        async def count(event: ItemCreated, ctx: Context) -> list[Event]:
            if not self.fixed:
                raise PermanentError(f"cannot count {event.title}")
            self.calls[event.title] += 1
            return [ItemCounted(source_title=event.title, n=event.quantity)]

        @things.handler
        async def note(event: ThingHappened, ctx: Context) -> list[Event]:
            if not self.fixed:
                raise ValueError(f"thing {event.name} is not ready")
            self.calls[event.name] += 1
            return [ThingNoted(name=event.name)]

        return [items, things]

    async def process(self, client: aioredis.Redis, config: BusConfig) -> None:
        """Run both subscriptions until each has drained its stream."""
        subs = self.subscriptions()
        async with contextlib.AsyncExitStack() as stack:
            consumers = [await stack.enter_async_context(running(sub, config)) for sub in subs]
            for sub in subs:
                await drain(client, sub)
            for consumer in consumers:
                consumer.stop()  # all at once: each finishes its current blocking read in parallel


async def poison(client: aioredis.Redis, config: BusConfig, items: int = 2, things: int = 1) -> World:
    """Publish `items` ItemCreated and `things` ThingHappened, run the broken handlers: all dead-lettered."""
    pub = Publisher(client, config)
    for i in range(items):
        await pub.publish(ItemCreated(title=f"item-{i}"))
    for i in range(things):
        await pub.publish(ThingHappened(name=f"thing-{i}", secret="sealed:v1:c2VjcmV0IGJ5dGVz"))
    world = World()
    await world.process(client, config)
    assert await client.xlen(keys.dead_letters("testing")) == items
    assert await client.xlen(keys.dead_letters("testdlq")) == things
    return world


async def outputs(client: aioredis.Redis, domain: str, type_: str) -> list[dict[str, Any]]:
    """Envelopes of one output type on a domain stream."""
    rows = [orjson.loads(f[b"body"]) for f in await entries(client, domain)]
    return [r for r in rows if r["type"] == type_]


async def dead_ids(client: aioredis.Redis, domain: str) -> list[str]:
    """Refs of every dead letter of a domain, oldest first."""
    return [f"{domain}/{eid.decode()}" for eid, _ in cast("Entries", await client.xrange(keys.dead_letters(domain)))]


Cli = Callable[..., Result]


async def run_cli(cli: Cli, *args: str, input: str | None = None) -> Result:
    """The CLI from an async test: in a thread, since each command runs its own event loop."""
    return await asyncio.to_thread(cli, *args, input=input)


HERE = Path(__file__).parent


async def sigkilled_replay(redis_url: str, halfway: Callable[[], Awaitable[bool]]) -> None:
    """`aiwf dlq replay --all --yes --rate 4/s` in a child process, SIGKILLed as soon as `halfway()` holds."""
    script = (
        f"import sys; sys.path[:0] = [{str(HERE.parents[1])!r}, {str(HERE)!r}]\n"
        "import tests.events, dlq_events, typer\n"
        "from aiwf.cli.dlq import register\n"
        "app = typer.Typer(); register(app); app(sys.argv[1:], prog_name='aiwf')\n"
    )
    args = [sys.executable, "-c", script, "dlq", "replay", "--all", "--yes", "--rate", "4/s"]
    proc = subprocess.Popen(args, env={**os.environ, "REDIS_URL": redis_url}, stdout=subprocess.DEVNULL)  # noqa: ASYNC220
    try:
        await wait_until(halfway, 20, "the replay to be half-way")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(10)
