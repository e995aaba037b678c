"""Redis error replies under a running consumer: an outage reply pauses and loses nothing, a key of the
wrong type makes the consumer say `misconfigured` (and /health 503) until it is fixed, and neither ends it."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import orjson
import redis.asyncio as aioredis

from aiwf.bus import Context, Publisher, RetryPolicy, Service, Subscription, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.health import summarize
from aiwf.bus.replies import is_misconfigured_reply, is_outage_reply, reply_code, reply_text
from aiwf.bus.server import free_port
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event
from tests.contract.harness import drain, entries, running
from tests.events import ItemCounted, ItemCreated
from tests.worker_support import get_health, new_worker, running_worker

FAST = RetryPolicy(max_deliveries=3, backoff_base_s=0.05, backoff_max_s=0.2, reclaim_idle_s=5.0, probe_max_s=0.5)


async def test_reply_codes_are_sorted_from_real_replies(client: aioredis.Redis) -> None:
    """The codes come from what this Redis and redis-py actually raise."""
    await client.set("replies:string", "x")
    try:
        await client.xadd("replies:string", {"a": "b"})
    except Exception as exc:
        wrong = exc
    assert reply_code(wrong) == "WRONGTYPE"
    assert is_misconfigured_reply(wrong)
    assert not is_outage_reply(wrong)
    await client.config_set("maxmemory", 1)
    try:
        await client.set("replies:more", "y")
    except Exception as exc:
        oom = exc
    finally:
        await client.config_set("maxmemory", 0)
    assert reply_code(oom) == "OOM"
    assert is_outage_reply(oom)
    assert reply_code(ValueError("OOM is not a reply")) is None
    assert reply_text(oom).startswith("OOM ")


async def test_oom_replies_to_commits_pause_and_nothing_is_lost(client: aioredis.Redis, config: BusConfig) -> None:
    """The first handler run turns on maxmemory 1: its commit gets OOM; the subscription pauses,
    and once Redis takes writes again every event is committed exactly once."""
    assert (await client.config_get("maxmemory-policy"))["maxmemory-policy"] == "noeviction"
    calls: Counter[str] = Counter()
    states: set[str] = set()
    sub = Subscription(stream="testing", group="oom", retry=FAST, batch=5, concurrency=2)

    @sub.handler
    async def count(event: ItemCreated, ctx: Context) -> list[Event]:
        if not calls:
            await client.config_set("maxmemory", 1)
        calls[event.title] += 1
        return [ItemCounted(source_title=event.title, n=1)]

    pub = Publisher(client, config)
    titles = [f"o{i}" for i in range(12)]
    for title in titles:
        await pub.publish(ItemCreated(title=title))
    try:
        async with running(sub, config) as consumer:
            await wait_until(lambda: _true("OOM" in consumer.stats.last_error), 10, "an OOM reply to a commit")
            for _ in range(20):  # watch it for a second while Redis refuses writes
                states.add(consumer.state)
                await asyncio.sleep(0.05)
            await client.config_set("maxmemory", 0)
            await drain(client, sub, timeout_s=15)
            assert consumer.stats.processed == len(titles)
    finally:
        await client.config_set("maxmemory", 0)
    assert "paused" in states
    outs = [orjson.loads(f[b"body"]) for f in await entries(client, "testing")]
    counted = Counter(o["payload"]["source_title"] for o in outs if o["type"] == "testing.item.counted")
    assert counted == Counter(titles)  # each output once, though some handlers ran again


async def test_a_stream_key_of_the_wrong_type_is_reported_until_fixed(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """A string where the stream should be: the consumer stays up, says `misconfigured` with the key,
    /health answers 503 with the reason; deleting the key resumes it."""
    key = keys.stream("wrongtype")
    await client.set(key, "not a stream")
    seen: list[str] = []
    sub = Subscription(stream="wrongtype", group="wt", retry=FAST)

    @sub.handler
    async def take(event: ItemCreated, ctx: Context) -> list[Event]:
        seen.append(event.title)
        return []

    port = free_port()
    worker = new_worker(Service("wrongtype", [sub]), config, health_port=port)
    async with running_worker(worker) as task:
        await wait_until(lambda: _true(worker.heartbeat.state() == "misconfigured"), 10, "misconfigured")
        (consumer,) = worker.consumers
        assert "WRONGTYPE" in consumer.misconfigured
        assert key in consumer.misconfigured
        reply = await get_health(port)
        assert reply is not None
        status, body = reply
        assert status == 503
        assert key in str(body)
        await client.delete(key)
        await Publisher(client, config).publish(ItemCreated(title="after"), stream="wrongtype")
        await wait_until(lambda: _true(seen == ["after"]), 15, "the event after the fix")
        assert consumer.state == "running"
        assert not task.done()


async def _true(value: bool) -> bool:
    return value


async def test_every_slot_hung_past_its_timeout_shows_stuck(client: aioredis.Redis, config: BusConfig) -> None:
    """A handler that swallows its timeout's cancel holds its slot: with every slot held the worker says
    `stuck` (in its heartbeat and in `aiwf health`'s summary, not `running` or `offline`) and /health is 503."""
    release = asyncio.Event()
    sub = Subscription(stream="testing", group="stuck", retry=FAST, timeout_s=0.2, concurrency=1)

    @sub.handler
    async def hang(event: ItemCreated, ctx: Context) -> list[Event]:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):  # a handler that ignores cancellation
                await release.wait()
        return []

    await Publisher(client, config).publish(ItemCreated(title="hangs"))
    port = free_port()
    worker = new_worker(Service("stuckservice", [sub]), config, health_port=port)
    try:
        async with running_worker(worker):
            await wait_until(lambda: _true(worker.heartbeat.state() == "stuck"), 15, "stuck")
            beat = {k: str(v) for k, v in worker.heartbeat.snapshot().items()}
            (row,) = summarize([beat], ["stuckservice"])
            assert row["state"] == "stuck"
            reply = await get_health(port)
            assert reply is not None
            assert reply[0] == 503
            assert "past its timeout" in str(reply[1])
            release.set()
            await drain(client, sub, timeout_s=10)
    finally:
        release.set()
