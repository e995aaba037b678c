"""Handlers that change stored state return a Decision; the one commit applies it or refuses it whole."""

from __future__ import annotations

import asyncio
from typing import cast

import redis.asyncio as aioredis

from aiwf.bus import Context, Decision, Nack, Publisher, RetryPolicy, Subscription
from aiwf.bus.config import BusConfig
from aiwf.bus.store import Aggregate, EventStore, Repository
from aiwf.schemas import Event
from tests.contract.harness import drain, running
from tests.events import ItemCounted, ItemCreated
from tests.replies import Entries

FAST = RetryPolicy(max_deliveries=3, backoff_base_s=0.01, backoff_max_s=0.05, reclaim_idle_s=1.0)


class Tally(Aggregate):
    """How many items were counted into one tally."""

    category = "tally"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.count = 0

    def apply(self, event: Event) -> None:
        self.count += 1


async def test_a_version_conflict_reruns_the_handler_on_fresh_state(client: aioredis.Redis, config: BusConfig) -> None:
    """A writer that slips in between load and commit makes the commit refuse; the re-run sees its event."""
    tallies = Repository(EventStore(client, config), Tally)
    seen_counts: list[int] = []
    sub = Subscription(stream="testing", group="tally", retry=FAST)

    @sub.handler
    async def count(event: ItemCreated, ctx: Context) -> Decision:
        tally = await tallies.load("t1")
        seen_counts.append(tally.count)
        if len(seen_counts) == 1:  # another writer commits first, after our load
            other = await tallies.load("t1")
            other.record(ItemCounted(source_title="other", n=1))
            await tallies.save(other)
        tally.record(ItemCounted(source_title=event.title, n=event.quantity))
        appends = tallies.stage(tally, cause=ctx.envelope)
        return Decision(events=[ItemCounted(source_title=event.title, n=1)], appends=appends)

    await Publisher(client, config).publish(ItemCreated(title="a"))
    async with running(sub, config) as consumer:
        await drain(client, sub)
        assert consumer.stats.conflicts == 1
    assert seen_counts == [0, 1]  # the second run loaded the other writer's event
    assert (await tallies.load("t1")).count == 2  # the other writer's and ours, each once
    outputs = [
        f for _, f in cast("Entries", await client.xrange("aiwf:ev:{testing}")) if f[b"type"] == b"testing.item.counted"
    ]
    assert len(outputs) == 1  # the refused decision's output was never written


async def test_nack_redelivers_without_an_error(client: aioredis.Redis, config: BusConfig) -> None:
    """A handler returning Nack gets the event again after the delay, counted as a delivery, not a failure."""
    deliveries: list[int] = []
    sub = Subscription(stream="testing", group="nacker", retry=FAST)

    @sub.handler
    async def later(event: ItemCreated, ctx: Context) -> list[Event] | Nack:
        deliveries.append(ctx.deliveries)
        return Nack(after_s=0.05) if len(deliveries) == 1 else []

    await Publisher(client, config).publish(ItemCreated(title="n"))
    async with running(sub, config) as consumer:
        await drain(client, sub)
        assert consumer.stats.failed == 0
    assert deliveries == [1, 2]


async def test_a_hanging_handler_is_timed_out_while_the_rest_commit(client: aioredis.Redis, config: BusConfig) -> None:
    """One handler that hangs is cancelled at timeout_s and retried; the other events commit meanwhile."""
    hung = asyncio.Event()
    done: list[str] = []
    sub = Subscription(stream="testing", group="slow", retry=FAST, timeout_s=0.5, concurrency=4)

    @sub.handler
    async def work(event: ItemCreated, ctx: Context) -> list[Event]:
        if event.title == "hang" and not hung.is_set():
            hung.set()
            await asyncio.Event().wait()  # never returns by itself
        done.append(event.title)
        return []

    pub = Publisher(client, config)
    await pub.publish(ItemCreated(title="hang"))
    for i in range(20):
        await pub.publish(ItemCreated(title=f"ok{i}"))
    async with running(sub, config) as consumer:
        await asyncio.wait_for(hung.wait(), 5)
        for _ in range(100):
            if len(done) >= 20:
                break
            await asyncio.sleep(0.02)
        assert "hang" not in done  # the others finished while it still hung
        assert len(done) == 20
        await drain(client, sub)
        assert consumer.stats.timeouts == 1
    assert done.count("hang") == 1  # retried after its timeout, then done


async def test_restarts_leave_no_consumer_behind(client: aioredis.Redis, config: BusConfig) -> None:
    """A consumer that stops cleanly with nothing pending leaves the group, so restarts add no names."""
    sub = Subscription(stream="testing", group="restarts", retry=FAST)

    @sub.handler
    async def noop(event: ItemCreated, ctx: Context) -> list[Event]:
        return []

    await Publisher(client, config).publish(ItemCreated(title="r"))
    for _ in range(3):
        async with running(sub, config):
            await drain(client, sub)
    assert await client.xinfo_consumers("aiwf:ev:{testing}", "restarts") == []


async def test_a_consumer_full_of_its_own_retries_still_runs_them(client: aioredis.Redis, config: BusConfig) -> None:
    """Every entry a consumer can hold fails once: with no room left, their due retries still run."""
    calls: dict[str, int] = {}
    sub = Subscription(stream="testing", group="full", retry=FAST, batch=2, concurrency=1)

    @sub.handler
    async def flaky(event: ItemCreated, ctx: Context) -> list[Event]:
        calls[event.title] = calls.get(event.title, 0) + 1
        if calls[event.title] == 1:
            raise RuntimeError("first delivery fails")
        return []

    pub = Publisher(client, config)
    titles = [f"f{i}" for i in range(12)]  # more than the capacity (1 slot + 2 batches of 2)
    for title in titles:
        await pub.publish(ItemCreated(title=title))
    async with running(sub, config) as consumer:
        assert consumer.capacity < len(titles)
        await drain(client, sub, timeout_s=10)
        assert consumer.stats.processed == len(titles)
    assert calls == dict.fromkeys(titles, 2)
