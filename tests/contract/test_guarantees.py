"""The bus's guarantees, each proved against a real Redis with an in-process consumer."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, cast

import orjson
import redis.asyncio as aioredis

from aiwf.bus import BackendUnavailable, Context, Publisher, RetryPolicy, Subscription, codec, deadletter, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.schemas import Envelope, Event
from tests.contract.harness import drain, entries, running
from tests.events import ItemCounted, ItemCreated
from tests.replies import Entries

FAST = RetryPolicy(max_deliveries=3, backoff_base_s=0.01, backoff_max_s=0.05, reclaim_idle_s=1.0)


def counter_sub(calls: Counter[str], fail_first: int = 0, retry: RetryPolicy = FAST) -> Subscription:
    """A subscription whose handler counts calls per title and emits one ItemCounted per input."""
    sub = Subscription(stream="testing", group="counter", retry=retry, batch=50)

    @sub.handler
    async def count(event: ItemCreated, ctx: Context) -> list[Event]:
        calls[event.title] += 1
        if calls[event.title] <= fail_first:
            raise RuntimeError(f"flaky {calls[event.title]}")
        return [ItemCounted(source_title=event.title, n=event.quantity)]

    return sub


async def outputs(client: aioredis.Redis) -> list[dict[str, Any]]:
    """Bodies of every ItemCounted on the testing stream."""
    rows = [orjson.loads(f[b"body"]) for f in await entries(client, "testing")]
    return [r for r in rows if r["type"] == "testing.item.counted"]


async def test_handler_failing_twice_runs_three_times_and_outputs_once(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """A handler that fails twice then succeeds runs 3 times; its output is published exactly once."""
    calls: Counter[str] = Counter()
    sub = counter_sub(calls, fail_first=2)
    await Publisher(client, config).publish(ItemCreated(title="a"))
    async with running(sub, config):
        await drain(client, sub)
    assert calls["a"] == 3
    out = await outputs(client)
    assert [o["payload"]["source_title"] for o in out] == ["a"]


async def test_output_carries_correlation_and_causation(client: aioredis.Redis, config: BusConfig) -> None:
    """An output event keeps the input's correlation id and names the input as its cause."""
    sub = counter_sub(Counter())
    eid = await Publisher(client, config).publish(ItemCreated(title="c"), correlation_id="corr-1")
    async with running(sub, config):
        await drain(client, sub)
    (out,) = await outputs(client)
    assert out["correlation_id"] == "corr-1"
    assert out["causation_id"] == eid


async def test_poison_reaches_dlq_and_healthy_event_behind_it_is_processed(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """A poison event is dead-lettered after max deliveries with its diagnosis; the event behind it still runs."""
    sub = Subscription(stream="testing", group="picky", retry=FAST)
    handled: list[str] = []

    @sub.handler
    async def picky(event: ItemCreated, ctx: Context) -> list[Event]:
        if event.title == "poison":
            raise ValueError("cannot digest poison")
        handled.append(event.title)
        return []

    pub = Publisher(client, config)
    poison_id = await pub.publish(ItemCreated(title="poison"))
    await pub.publish(ItemCreated(title="healthy"))
    async with running(sub, config):
        await drain(client, sub)
    assert handled == ["healthy"]
    (letter,) = [f for _, f in cast("Entries", await client.xrange(keys.dead_letters("testing")))]
    text = {k.decode(): v.decode() for k, v in letter.items()}
    assert text[deadletter.FIELD_ERROR_TYPE] == "ValueError"
    assert text[deadletter.FIELD_ERROR] == "cannot digest poison"
    assert "Traceback" in text[deadletter.FIELD_TRACEBACK]
    assert text[deadletter.FIELD_DELIVERIES] == str(FAST.max_deliveries)
    assert text[deadletter.FIELD_GROUP] == "picky"
    assert text[deadletter.FIELD_CONSUMER]
    assert text[deadletter.FIELD_FAILED_AT]
    assert text[deadletter.FIELD_SOURCE] == keys.stream("testing")
    assert text[deadletter.ORIGINAL_PREFIX + "id"] == poison_id


async def test_malformed_and_invalid_entries_are_dead_lettered_on_first_delivery(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """Bad JSON and a schema violation written straight to the stream are dead-lettered at once; the worker goes on."""
    calls: Counter[str] = Counter()
    sub = counter_sub(calls)
    stream = keys.stream("testing")
    await client.xadd(stream, {"id": "x", "type": "testing.item.created", "body": b"{not json"})
    good = Envelope.wrap(ItemCreated(title="ok"), producer="t").model_dump(mode="json")
    bad = {**good, "id": "bad-1", "payload": {"title": 5, "quantity": "many"}}
    await client.xadd(stream, {"id": "bad-1", "type": "testing.item.created", "body": orjson.dumps(bad)})
    await client.xadd(
        stream,
        {
            "id": "u-1",
            "type": "testing.nothing.happened",
            "body": orjson.dumps({**good, "id": "u-1", "type": "testing.nothing.happened"}),
        },
    )
    await Publisher(client, config).publish(ItemCreated(title="ok"))
    async with running(sub, config):
        await drain(client, sub)
    letters = [f for _, f in cast("Entries", await client.xrange(keys.dead_letters("testing")))]
    assert [lt[b"deliveries"] for lt in letters] == [b"1", b"1", b"1"]
    errors = [lt[b"error"].decode() for lt in letters]
    assert "not valid JSON" in errors[0]
    assert "title: Input should be a valid string" in errors[1]
    assert "unknown event type 'testing.nothing.happened'" in errors[2]
    assert calls == Counter({"ok": 1})


async def test_same_event_id_delivered_twice_runs_handler_once(client: aioredis.Redis, config: BusConfig) -> None:
    """A publish that landed twice (its retry flagged as such) runs the handler once, in one batch or two."""
    calls: Counter[str] = Counter()
    sub = counter_sub(calls)
    env = Envelope.wrap(ItemCreated(title="twice"), producer="t")
    stream = keys.stream("testing")
    await Publisher(client, config).publish_envelope(env)
    async with running(sub, config):
        await drain(client, sub)
        await client.xadd(stream, codec.encode(env, redelivery="publish-retry"))  # type: ignore[arg-type]  # the retry's copy, later
        await drain(client, sub)
    await client.xadd(stream, codec.encode(env))  # type: ignore[arg-type]  # redis-py: invariant dict
    await client.xadd(stream, codec.encode(env, redelivery="publish-retry"))  # type: ignore[arg-type]  # two copies in one batch
    async with running(sub, config):
        await drain(client, sub)
    assert calls["twice"] == 1
    assert len(await outputs(client)) == 1


async def test_unflagged_duplicate_still_commits_its_outputs_once(client: aioredis.Redis, config: BusConfig) -> None:
    """A copy written by a foreign producer without the flag may run the handler again, but adds no output."""
    calls: Counter[str] = Counter()
    sub = counter_sub(calls)
    env = Envelope.wrap(ItemCreated(title="foreign"), producer="t")
    async with running(sub, config):
        await Publisher(client, config).publish_envelope(env)
        await drain(client, sub)
        await client.xadd(keys.stream("testing"), codec.encode(env))  # type: ignore[arg-type]  # redis-py: invariant dict
        await drain(client, sub)
    assert calls["foreign"] == 2
    assert len(await outputs(client)) == 1


async def test_backend_outage_pauses_instead_of_dead_lettering(client: aioredis.Redis, config: BusConfig) -> None:
    """With the backend down for every event nothing is dead-lettered; when it returns the backlog completes."""
    backend_up = asyncio.Event()
    done: list[str] = []
    sub = Subscription(
        stream="testing",
        group="needs-backend",
        retry=RetryPolicy(max_deliveries=2, backoff_base_s=0.01, backoff_max_s=0.05, outage_after=3, probe_max_s=0.1),
    )

    @sub.handler
    async def call_backend(event: ItemCreated, ctx: Context) -> list[Event]:
        if not backend_up.is_set():
            raise ConnectionRefusedError("backend at 127.0.0.1:9 refused")
        done.append(event.title)
        return []

    pub = Publisher(client, config)
    for i in range(20):
        await pub.publish(ItemCreated(title=f"t{i}"))
    async with running(sub, config) as consumer:
        await wait_until(lambda: _true(consumer.state == "paused"), 10, "the subscription to pause")
        await asyncio.sleep(0.5)  # many probe rounds, far past max_deliveries
        assert await client.xlen(keys.dead_letters("testing")) == 0
        backend_up.set()
        await drain(client, sub)
        assert consumer.state == "running"
    assert sorted(done) == sorted(f"t{i}" for i in range(20))
    assert await client.xlen(keys.dead_letters("testing")) == 0


async def test_backend_unavailable_error_never_dead_letters(client: aioredis.Redis, config: BusConfig) -> None:
    """A handler raising BackendUnavailable pauses at once, even for a single event past max deliveries."""
    attempts: Counter[str] = Counter()
    sub = Subscription(
        stream="testing",
        group="tts-like",
        retry=RetryPolicy(max_deliveries=1, backoff_base_s=0.01, backoff_max_s=0.02, probe_max_s=0.02),
    )

    @sub.handler
    async def speak(event: ItemCreated, ctx: Context) -> list[Event]:
        attempts[event.title] += 1
        if attempts[event.title] < 5:
            raise BackendUnavailable("speech engine not loaded")
        return []

    await Publisher(client, config).publish(ItemCreated(title="one"))
    async with running(sub, config):
        await drain(client, sub)
    assert attempts["one"] == 5
    assert await client.xlen(keys.dead_letters("testing")) == 0


async def test_long_handler_renewing_its_lease_is_never_run_twice(client: aioredis.Redis, config: BusConfig) -> None:
    """A handler running 3x the reclaim threshold keeps its lease: a second consumer never takes its event."""
    policy = RetryPolicy(reclaim_idle_s=0.3, backoff_base_s=0.01, backoff_max_s=0.05)
    runs: Counter[str] = Counter()
    sub = Subscription(stream="testing", group="slow", retry=policy, batch=1)

    @sub.handler
    async def slow(event: ItemCreated, ctx: Context) -> list[Event]:
        runs[event.title] += 1
        await asyncio.sleep(0.9)
        return []

    await Publisher(client, config).publish(ItemCreated(title="long"))
    async with running(sub, config) as first:
        await wait_until(lambda: _true(first.pending == 1), 5, "the first consumer to take the event")
        async with running(sub, config):
            await drain(client, sub)
    assert runs["long"] == 1


async def test_deleted_group_is_recreated_under_a_running_worker(client: aioredis.Redis, config: BusConfig) -> None:
    """A group destroyed under a running consumer is recreated within seconds and work continues."""
    calls: Counter[str] = Counter()
    sub = counter_sub(calls)
    pub = Publisher(client, config)
    await pub.publish(ItemCreated(title="before"))
    async with running(sub, config) as consumer:
        await drain(client, sub)
        await client.xgroup_destroy(keys.stream("testing"), "counter")
        await pub.publish(ItemCreated(title="after"))
        await wait_until(lambda: _true(consumer.stats.groups_recreated >= 1), 5, "the group to be recreated")
        await drain(client, sub)
        await client.delete(keys.stream("testing"))  # the whole stream, too
        await pub.publish(ItemCreated(title="reborn"))
        await drain(client, sub)
    assert calls == Counter({"before": 1, "after": 1, "reborn": 1})


async def _true(value: bool) -> bool:
    return value
