"""The event store on a Redis Cluster: expected-version appends on the aggregate's slot, the global log by relay."""

from __future__ import annotations

import asyncio

import pytest

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, slot
from aiwf.bus.relay import Relay
from aiwf.bus.store import NO_STREAM, ConcurrencyError, EventStore
from aiwf.bus.store.append import outbox_of
from aiwf.bus.store.stream_id import parse
from aiwf.schemas import Envelope
from tests.events import ItemCreated


def created(title: str) -> Envelope:
    return Envelope.wrap(ItemCreated(title=title), producer="tests")


async def test_append_checks_the_expected_version_and_fills_every_view(
    cclient: Redis, cluster_config: BusConfig
) -> None:
    """Appends on a Cluster: versions checked, the aggregate and category written at once, the global log once each."""
    store = EventStore(cclient, cluster_config)
    assert slot(keys.GLOBAL_STREAM) != slot(parse("item-1").events)
    first = [created("a"), created("b")]
    assert await store.append("item-1", first, expected_version=NO_STREAM) == 2
    with pytest.raises(ConcurrencyError):
        await store.append("item-1", [created("late")], expected_version=1)
    assert await store.append("item-1", first, expected_version=NO_STREAM) == 2  # a retry: a no-op
    assert await store.append("item-2", [created("c")]) == 1
    assert [r.version for r in await store.read("item-1")] == [1, 2]
    assert len(await store.read_category("item")) == 3
    logged = await store.read_all()
    assert [r.envelope.payload["title"] for r in logged] == ["a", "b", "c"]
    assert await cclient.xlen(outbox_of(parse("item-1"))) == 0


async def test_concurrent_appends_at_one_version_let_exactly_one_win(cclient: Redis, cluster_config: BusConfig) -> None:
    """Ten writers expecting version 0 of one aggregate: one succeeds, nine get ConcurrencyError; the log holds one."""
    store = EventStore(cclient, cluster_config)
    results = await asyncio.gather(
        *(store.append("race-1", [created(f"w{i}")], expected_version=NO_STREAM) for i in range(10)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if r == 1) == 1
    assert sum(1 for r in results if isinstance(r, ConcurrencyError)) == 9
    assert len(await store.read_all()) == 1


async def test_global_log_entries_left_by_a_crash_are_moved_by_a_sweep(
    cclient: Redis, cluster_config: BusConfig
) -> None:
    """An append whose inline relay never ran (a crash) reaches the global log through a worker's sweeping relay."""
    from aiwf.bus.scripts import Script
    from aiwf.bus.store import append as append_

    sid = parse("item-9")
    call = append_.build(sid, [created("orphan")], -1, cluster_config.max_event_bytes, cluster=True)
    await Relay(cclient, cluster_config).register(outbox_of(sid))  # what EventStore.append does first
    await Script(cclient, "append")(call)  # then the append alone, as if the process died right after it
    assert await cclient.xlen(keys.GLOBAL_STREAM) == 0
    sweeper = Relay(cclient, cluster_config, sweep=True)
    task = asyncio.create_task(sweeper.run())
    try:
        for _ in range(100):
            if await cclient.xlen(keys.GLOBAL_STREAM):
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    logged = await EventStore(cclient, cluster_config).read_all()
    assert [r.stream_id for r in logged] == ["item-9"]
