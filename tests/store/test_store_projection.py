"""Projections on bus consumer groups: catch-up, resume, and each event applied once across a kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis
from store_projection_proc import FAST, read_state, totals

from aiwf.bus import deadletter, markers
from aiwf.bus import keys as bus_keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.consume import Consumer
from aiwf.bus.decision import Decision, Result, WriteRefused
from aiwf.bus.errors import ConfigError
from aiwf.bus.handler import Context, Handler
from aiwf.bus.store import ALL, EventStore, Projection, StoreError, Writes
from aiwf.bus.testing import wait_until
from aiwf.schemas import Envelope, Event
from tests.contract.harness import drain, running
from tests.events import ItemCounted, ItemCreated, ItemCreatedV1

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


async def fill(store: EventStore, aggregates: int, per_aggregate: int) -> None:
    """Append ItemCreated events round-robin over `aggregates` item streams."""
    for v in range(per_aggregate):
        for a in range(aggregates):
            env = Envelope.wrap(ItemCreated(title=f"t{a}", quantity=v + 1), producer="tests")
            await store.append(f"item-{a}", [env], expected_version=v)


async def run_to_end(proj: Projection, client: aioredis.Redis, config: BusConfig) -> None:
    """Run the projection until its group has drained the stream, then stop it gracefully."""
    sub = proj.subscription()
    async with running(sub, config):
        await drain(client, sub)


async def test_projection_catches_up_on_events_appended_before_it_existed(
    client: aioredis.Redis, config: BusConfig, store: EventStore
) -> None:
    """A new projection starts at the beginning of its category: every earlier event is applied once."""
    await fill(store, aggregates=3, per_aggregate=5)
    proj = totals("catchup")
    await run_to_end(proj, client, config)
    qty, applied, count = await read_state(client, proj)
    assert count == 15
    assert qty == {f"t{a}".encode(): b"15" for a in range(3)}
    assert set(applied.values()) == {b"1"}


async def test_projection_resumes_from_its_stored_position_after_a_restart(
    client: aioredis.Redis, config: BusConfig, store: EventStore
) -> None:
    """Stopped and restarted, a projection handles only the events appended since: none twice."""
    calls: Counter[str] = Counter()
    await fill(store, aggregates=2, per_aggregate=5)
    await run_to_end(totals("resume", calls), client, config)
    assert sum(calls.values()) == 10
    for a in range(2):
        env = Envelope.wrap(ItemCreated(title=f"t{a}", quantity=100), producer="tests")
        await store.append(f"item-{a}", [env], expected_version=5)
    await run_to_end(totals("resume", calls), client, config)
    assert sum(calls.values()) == 12
    assert set(calls.values()) == {1}
    assert (await read_state(client, totals("resume")))[2] == 12


def hang_after(nth: int, reached: asyncio.Event, fn: Handler) -> Handler:
    """Wrap a bus handler: the `nth` call decides its writes, then hangs before the bus can commit them."""
    seen = 0

    async def wrapped(event: Event, ctx: Context) -> Result:
        nonlocal seen
        seen += 1
        out = await fn(event, ctx)
        if seen == nth:
            reached.set()
            await asyncio.Event().wait()  # killed here: decided, not committed
        return out

    return wrapped


async def test_projection_killed_between_apply_and_ack_ends_like_an_uninterrupted_run(
    client: aioredis.Redis, config: BusConfig, store: EventStore
) -> None:
    """Killed with its 25th event's writes decided but not committed, the restarted projection applies each once."""
    await fill(store, aggregates=4, per_aggregate=15)
    await run_to_end(totals("reference"), client, config)

    calls: Counter[str] = Counter()
    proj = totals("killed", calls)
    sub = proj.subscription()
    reached = asyncio.Event()
    sub.handlers[ItemCreated.event_type] = hang_after(25, reached, sub.handlers[ItemCreated.event_type])
    victim_client = connect(config.redis_url or "", config)
    victim = asyncio.create_task(Consumer(victim_client, config, sub, "tests").run())
    await asyncio.wait_for(reached.wait(), 10)
    victim.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await victim
    await victim_client.aclose()
    # Writes commit with the ack: the 24 committed events are applied, the 25th's writes are not.
    assert (await read_state(client, proj))[2] == 24

    await run_to_end(totals("killed", calls), client, config)  # reclaims the rest from the dead consumer
    assert calls.most_common(1)[0][1] == 2  # the killed event's handler did run twice...
    reference, killed = await read_state(client, totals("reference")), await read_state(client, proj)
    assert killed == reference  # ...and were applied once: same totals, same count, every event once
    assert killed[2] == 60
    assert set(killed[1].values()) == {b"1"}


@pytest.mark.fault
async def test_projection_process_sigkilled_mid_way_ends_like_an_uninterrupted_run(
    client: aioredis.Redis, config: BusConfig, store: EventStore
) -> None:
    """A projection process SIGKILLed mid-way and finished by another consumer equals an uninterrupted run."""
    await fill(store, aggregates=5, per_aggregate=40)
    await run_to_end(totals("reference"), client, config)
    proj = totals("sigkilled")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(  # noqa: ASYNC220 - a child we SIGKILL; waiting is bounded below
        [sys.executable, str(HERE / "store_projection_proc.py"), config.redis_url or "", "sigkilled"],
        env=env,
        cwd=ROOT,
    )
    try:
        await wait_until(lambda: _count_at_least(client, proj, 80), 20, "the projection process to apply 80 events")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
    assert (await read_state(client, proj))[2] < 200
    await run_to_end(totals("sigkilled"), client, config)
    reference, killed = await read_state(client, totals("reference")), await read_state(client, proj)
    assert killed == reference
    assert killed[2] == 200
    assert set(killed[1].values()) == {b"1"}


async def _count_at_least(client: aioredis.Redis, proj: Projection, n: int) -> bool:
    return int(await client.get(proj.key("count")) or 0) >= n


async def test_projection_over_the_global_log_sees_every_category_upcast(
    client: aioredis.Redis, config: BusConfig, store: EventStore
) -> None:
    """A projection over ALL receives events of every category, old versions upcast to the newest model."""
    await store.append("item-1", [Envelope.wrap(ItemCreatedV1(name="old"), producer="tests")])
    await store.append("tally-1", [Envelope.wrap(ItemCounted(source_title="old", n=2), producer="tests")])
    proj = Projection("everything", ALL)

    @proj.handler
    async def on_created(event: ItemCreated, env: Envelope, writes: Writes) -> None:
        writes.sadd(proj.key("titles"), event.title)
        writes.hset(proj.key("quantity"), event.title, event.quantity)

    @proj.handler
    async def on_counted(event: ItemCounted, env: Envelope, writes: Writes) -> None:
        writes.hincrby(proj.key("counted"), event.source_title, event.n)

    await run_to_end(proj, client, config)
    assert await client.smembers(proj.key("titles")) == {b"old"}
    assert await client.hgetall(proj.key("quantity")) == {b"old": b"1"}
    assert await client.hgetall(proj.key("counted")) == {b"old": b"2"}


def test_projection_refuses_foreign_keys_and_bad_names() -> None:
    """Writes outside the projection's keys, a bad name or the 'all' category as a source are refused."""
    proj = Projection("ok_name", "item")
    with pytest.raises(WriteRefused, match="not under"):
        Writes(proj.key()).set("aiwf:ev:{documents}", 1)
    with pytest.raises(ConfigError, match="projection name"):
        Projection("Bad Name")
    with pytest.raises(StoreError, match="category"):
        Projection("x", "no-dash")


async def test_event_whose_writes_cannot_all_apply_writes_nothing_and_is_dead_lettered(
    client: aioredis.Redis, config: BusConfig, store: EventStore
) -> None:
    """A write to a key of the wrong type refuses the event's other writes too; it ends in the DLQ, unmarked."""
    await fill(store, aggregates=1, per_aggregate=1)
    proj = Projection("typed", "item", retry=FAST)

    @proj.handler
    async def on_created(event: ItemCreated, env: Envelope, writes: Writes) -> None:
        writes.incrby(proj.key("count"), 1)
        writes.hincrby(proj.key("qty"), event.title, event.quantity)

    await client.set(proj.key("qty"), "a string, not a hash")
    await run_to_end(proj, client, config)
    assert await client.get(proj.key("count")) is None  # the first write was refused with the second
    (dead,) = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(bus_keys.dead_letters(proj.domain)))
    assert b"WRONGTYPE projection key" in dead[1][deadletter.FIELD_ERROR.encode()]
    (rec,) = await store.read("item-0")
    assert await markers.already_done(client, [markers.marker(proj.domain, proj.name, rec.envelope.id)]) == [False]


async def test_projection_handler_returns_its_writes_and_writes_nothing_itself() -> None:
    """A projection's bus handler needs no client: it returns a Decision holding the writes for the commit."""
    env = Envelope.wrap(ItemCreated(title="t", quantity=3), producer="tests")
    ctx = Context(env, 1, "c", "pure")
    handler = totals("pure").subscription().handlers[ItemCreated.event_type]
    decision = await handler(ItemCreated(title="t", quantity=3), ctx)
    assert isinstance(decision, Decision)
    assert decision.writes is not None
    assert decision.writes.count > 0
    assert all(key.startswith("aiwf:proj:{es-item}:pure:") for _, key, _ in decision.writes.commands)


async def test_settled_waits_until_the_projection_applied_what_was_appended_before_the_call(
    client: aioredis.Redis, config: BusConfig, store: EventStore
) -> None:
    """Read your writes: settled is False while the projection is stopped or behind, True once it applied the head."""
    proj = totals("settle", delay_s=0.05)
    assert await proj.settled(client, timeout_s=0.1)  # nothing appended yet: nothing to wait for
    await fill(store, aggregates=2, per_aggregate=3)
    assert not await proj.settled(client, timeout_s=0.2)  # no consumer, no group
    async with running(proj.subscription(), config):
        assert await proj.settled(client, timeout_s=10)
        assert (await read_state(client, proj))[2] == 6  # settled means applied, not only delivered
        await fill_more(store)
        assert await proj.settled(client, timeout_s=10)
        assert (await read_state(client, proj))[2] == 7


async def fill_more(store: EventStore) -> None:
    """One more event on item-0 (after `fill(store, 2, 3)`)."""
    await store.append(
        "item-0", [Envelope.wrap(ItemCreated(title="t0", quantity=1), producer="tests")], expected_version=3
    )
