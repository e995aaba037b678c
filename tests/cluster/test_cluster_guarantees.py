"""The guarantee suite's core on a local Redis Cluster, with a handler whose outputs go to another slot."""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from typing import cast

import orjson
import pytest

from aiwf.bus import Context, Publisher, RetryPolicy, Subscription, deadletter, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, slot
from aiwf.bus.testing import wait_until
from aiwf.dlq import letters
from aiwf.dlq.filters import Filter
from aiwf.dlq.replay import Replayer
from aiwf.schemas import Event
from tests.cluster.cluster_events import CountedElsewhere
from tests.cluster.support import OUT, all_done, output_causes, pending, publish_items, spawn
from tests.contract.harness import drain, running
from tests.events import ItemCounted, ItemCreated
from tests.replies import Entries

FAST = RetryPolicy(max_deliveries=3, backoff_base_s=0.01, backoff_max_s=0.05, reclaim_idle_s=1.0)


def two_slot_sub(calls: Counter[str], fail_first: int = 0) -> Subscription:
    """Per input: one output on another slot (through the outbox) and one on its own slot (direct)."""
    sub = Subscription(stream="testing", group="counter", retry=FAST, batch=50)

    @sub.handler
    async def count(event: ItemCreated, ctx: Context) -> list[Event]:
        calls[event.title] += 1
        if event.title == "poison":
            raise ValueError("cannot digest poison")
        if calls[event.title] <= fail_first:
            raise RuntimeError(f"flaky {calls[event.title]}")
        return [
            CountedElsewhere(source_title=event.title, n=event.quantity),
            ItemCounted(source_title=event.title, n=event.quantity),
        ]

    return sub


async def same_slot_outputs(client: Redis) -> list[str]:
    """Source titles of the ItemCounted outputs on `testing` (the direct, same-slot path)."""
    rows = [orjson.loads(f[b"body"]) for _, f in cast("Entries", await client.xrange(keys.stream("testing")))]
    return [r["payload"]["source_title"] for r in rows if r["type"] == "testing.item.counted"]


def test_the_output_stream_is_on_another_slot() -> None:
    """The premise of this suite: `testing` and `elsewhere` hash to different slots."""
    assert slot(keys.stream("testing")) != slot(keys.stream(OUT))
    assert slot(keys.outbox("testing")) == slot(keys.stream("testing"))


async def test_retried_handler_commits_each_output_once_on_both_slots(
    cclient: Redis, cluster_config: BusConfig
) -> None:
    """A handler failing twice then succeeding: its cross-slot output and its same-slot output land once each."""
    calls: Counter[str] = Counter()
    sub = two_slot_sub(calls, fail_first=2)
    pub = Publisher(cclient, cluster_config)
    ids = [await pub.publish(ItemCreated(title=f"t{i}")) for i in range(20)]
    async with running(sub, cluster_config):
        await drain(cclient, sub)
        await wait_until(lambda: _len_is(cclient, keys.stream(OUT), 20), 10, "the relay to move every output")
    assert all(calls[f"t{i}"] == 3 for i in range(20))
    causes = await output_causes(cclient)
    assert set(causes) == set(ids)
    assert max(causes.values()) == 1
    assert sorted(await same_slot_outputs(cclient)) == sorted(f"t{i}" for i in range(20))
    assert await cclient.xlen(keys.outbox("testing")) == 0


async def test_cross_slot_outputs_keep_their_source_order(cclient: Redis, cluster_config: BusConfig) -> None:
    """Outputs moved by the relay reach the other stream in the order their inputs were committed."""
    sub = Subscription(stream="testing", group="ordered", batch=1, concurrency=1)

    @sub.handler
    async def count(event: ItemCreated, ctx: Context) -> list[Event]:
        return [CountedElsewhere(source_title=event.title, n=event.quantity)]

    await Publisher(cclient, cluster_config).publish_many([ItemCreated(title=f"o{i:03}") for i in range(200)])
    async with running(sub, cluster_config):
        await wait_until(lambda: _len_is(cclient, keys.stream(OUT), 200), 20, "every output to be relayed")
    rows = [orjson.loads(f[b"body"]) for _, f in cast("Entries", await cclient.xrange(keys.stream(OUT)))]
    assert [r["payload"]["source_title"] for r in rows] == [f"o{i:03}" for i in range(200)]


async def test_poison_is_dead_lettered_on_its_slot_and_replayed(cclient: Redis, cluster_config: BusConfig) -> None:
    """A poison event reaches its stream's dead letters with its diagnosis; once fixed, a replay runs it once."""
    calls: Counter[str] = Counter()
    sub = two_slot_sub(calls)
    pub = Publisher(cclient, cluster_config)
    poison = await pub.publish(ItemCreated(title="poison"))
    await pub.publish(ItemCreated(title="healthy"))
    async with running(sub, cluster_config):
        await drain(cclient, sub)
    (letter,) = [f for _, f in cast("Entries", await cclient.xrange(keys.dead_letters("testing")))]
    text = {k.decode(): v.decode() for k, v in letter.items()}
    assert text[deadletter.FIELD_ERROR_TYPE] == "ValueError"
    assert text[deadletter.FIELD_DELIVERIES] == str(FAST.max_deliveries)
    assert text[deadletter.ORIGINAL_PREFIX + "id"] == poison
    assert calls["poison"] == FAST.max_deliveries
    assert await same_slot_outputs(cclient) == ["healthy"]

    calls["poison"] = -100  # "the fix": the handler no longer sees it as poison
    fixed = Subscription(stream="testing", group="counter", retry=FAST, batch=50)

    @fixed.handler
    async def count(event: ItemCreated, ctx: Context) -> list[Event]:
        calls[event.title] += 1
        return [CountedElsewhere(source_title=event.title, n=event.quantity)]

    (result,) = await Replayer(cclient, cluster_config).run(await letters.scan(cclient, Filter()))
    assert result.status == "replayed"
    assert await cclient.xlen(keys.dead_letters("testing")) == 0
    async with running(fixed, cluster_config):
        await drain(cclient, fixed)
        await wait_until(lambda: _len_is(cclient, keys.stream(OUT), 2), 10, "the replayed event's output")
    assert calls["poison"] == -99  # run once after the replay
    causes = await output_causes(cclient)
    assert causes[poison] == 1


async def test_backend_outage_pauses_instead_of_dead_lettering(cclient: Redis, cluster_config: BusConfig) -> None:
    """With the backend down for every event nothing is dead-lettered; when it returns, every output is relayed."""
    backend_up = asyncio.Event()
    sub = Subscription(
        stream="testing",
        group="needs-backend",
        retry=RetryPolicy(max_deliveries=2, backoff_base_s=0.01, backoff_max_s=0.05, outage_after=3, probe_max_s=0.1),
    )

    @sub.handler
    async def call_backend(event: ItemCreated, ctx: Context) -> list[Event]:
        if not backend_up.is_set():
            raise ConnectionRefusedError("backend at 127.0.0.1:9 refused")
        return [CountedElsewhere(source_title=event.title, n=event.quantity)]

    ids = await Publisher(cclient, cluster_config).publish_many([ItemCreated(title=f"t{i}") for i in range(20)])
    async with running(sub, cluster_config) as consumer:
        await wait_until(lambda: _true(consumer.state == "paused"), 10, "the subscription to pause")
        await asyncio.sleep(0.5)  # many probe rounds, far past max_deliveries
        assert await cclient.xlen(keys.dead_letters("testing")) == 0
        backend_up.set()
        await drain(cclient, sub)
        await wait_until(lambda: _len_is(cclient, keys.stream(OUT), 20), 10, "every output to be relayed")
    assert set(await output_causes(cclient)) == set(ids)
    assert await cclient.xlen(keys.dead_letters("testing")) == 0


async def test_publish_flush_across_slots_lands_every_event(cclient: Redis, cluster_config: BusConfig) -> None:
    """Concurrent publishes to streams on different slots share a flush, cut per slot: every one lands once."""
    pub = Publisher(cclient, cluster_config)
    events: list[Event] = []
    for i in range(300):
        events.append(ItemCreated(title=f"p{i}"))
        events.append(CountedElsewhere(source_title=f"p{i}", n=i))
    ids = await asyncio.gather(*(pub.publish(e) for e in events))
    assert len(set(ids)) == 600
    assert await cclient.xlen(keys.stream("testing")) == 300
    assert await cclient.xlen(keys.stream(OUT)) == 300


async def test_off_slot_store_write_is_dead_lettered_with_the_reason(cclient: Redis, cluster_config: BusConfig) -> None:
    """A decision writing a read-model key on another slot cannot commit atomically on a Cluster: dead-lettered."""
    from aiwf.bus import Decision, Writes

    sub = Subscription(stream="testing", group="writer", retry=FAST)

    @sub.handler
    async def write(event: ItemCreated, ctx: Context) -> Decision:
        writes = Writes(keys.projection_prefix(OUT, "titles"))
        writes.hset(keys.projection_key(OUT, "titles", "all"), event.title, "1")
        return Decision(writes=writes)

    await Publisher(cclient, cluster_config).publish(ItemCreated(title="w"))
    async with running(sub, cluster_config) as consumer:
        await drain(cclient, sub)
        assert consumer.stats.dead_lettered == 1
    (letter,) = [f for _, f in cast("Entries", await cclient.xrange(keys.dead_letters("testing")))]
    assert b"is not on the slot of" in letter[deadletter.FIELD_ERROR.encode()]
    assert not await cclient.exists(keys.projection_key(OUT, "titles", "all"))


async def test_retention_trims_only_what_every_group_acknowledged(cclient: Redis, cluster_config: BusConfig) -> None:
    """On a Cluster too, a retention pass keeps what a group has not acknowledged and trims the rest."""
    from aiwf.bus import retention

    stream = keys.stream("testing")
    await publish_items(cclient, cluster_config, 300)
    await cclient.xgroup_create(stream, "slow", id="0")
    await cclient.xgroup_create(stream, "fast", id="0")
    fast = cast("list[tuple[bytes, Entries]]", await cclient.xreadgroup("fast", "f", {stream: ">"}, count=300))
    await cclient.xack(stream, "fast", *[entry_id for entry_id, _ in fast[0][1]])
    slow = cast("list[tuple[bytes, Entries]]", await cclient.xreadgroup("slow", "s", {stream: ">"}, count=200))
    await cclient.xack(stream, "slow", *[entry_id for entry_id, _ in slow[0][1]])
    unread = {entry_id for entry_id, _ in cast("Entries", await cclient.xrange(stream))[200:]}
    report = await retention.trim(cclient, stream, keep=10)
    left = {entry_id for entry_id, _ in cast("Entries", await cclient.xrange(stream))}
    assert report.trimmed > 0
    assert len(left) < 300
    assert unread <= left  # every entry `slow` has not acknowledged is still there


@pytest.mark.fault
@pytest.mark.slow
async def test_sigkilled_consumers_lose_and_double_nothing_across_slots(
    cclient: Redis, cluster_config: BusConfig, local_cluster: object
) -> None:
    """5,000 events, consumers SIGKILLed at random moments: exactly one cross-slot output per input, none pending."""
    url = cluster_config.redis_url or ""
    inputs = await publish_items(cclient, cluster_config, 5000)
    rng = random.Random(11)
    for _ in range(4):
        victim = spawn("cluster_consumer", url)
        await wait_until(lambda: _outputs_over(cclient, 1), 30, "the consumer to start committing")
        await asyncio.sleep(rng.uniform(0.05, 0.4))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    survivor = spawn("cluster_consumer", url)
    try:
        await wait_until(lambda: all_done(cclient, len(inputs)), 90, "every input to have its output")
    finally:
        survivor.terminate()
        survivor.wait(10)
    causes = await output_causes(cclient)
    assert set(causes) == inputs
    assert max(causes.values()) == 1
    assert await pending(cclient) == 0


async def _outputs_over(client: Redis, n: int) -> bool:
    return await client.xlen(keys.stream(OUT)) + await client.xlen(keys.outbox("testing")) >= n


async def _len_is(client: Redis, key: str, n: int) -> bool:
    return int(await client.xlen(key)) >= n


async def _true(value: bool) -> bool:
    return value
