"""Aggregates and the repository: snapshot + tail equals a full replay; old snapshot shapes are ignored."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.config import BusConfig
from bus.errors import ConfigError
from bus.store import Aggregate, ConcurrencyError, EventStore, Repository
from bus.store.keys import parse
from schemas import Envelope, Event
from tests.events import ItemCreated


class Basket(Aggregate):
    """Items added to a basket: titles in order and a running total."""

    category = "basket"
    state_version = 2

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.titles: list[str] = []
        self.total = 0
        self.applied = 0  # not state: how many events this instance applied

    def apply(self, event: Event) -> None:
        self.applied += 1
        if isinstance(event, ItemCreated):
            self.titles.append(event.title)
            self.total += event.quantity

    def snapshot_state(self) -> dict[str, Any]:
        return {"titles": self.titles, "total": self.total}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.titles = list(state["titles"])
        self.total = int(state["total"])

    def add(self, title: str, quantity: int) -> None:
        """The command: record one ItemCreated."""
        self.record(ItemCreated(title=title, quantity=quantity))


class OldBasket(Basket):
    """The same aggregate as deployed before its state changed shape (v1 kept only a count)."""

    state_version = 1

    def snapshot_state(self) -> dict[str, Any]:
        return {"count": len(self.titles)}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.titles = ["?"] * int(state["count"])


async def fill(repo: Repository[Any], basket_id: str, quantities: list[int], save_every: int) -> None:
    """Add one item per quantity, saving every `save_every` commands."""
    basket = await repo.load(basket_id)
    for i, q in enumerate(quantities):
        basket.add(f"t{i}", q)
        if (i + 1) % save_every == 0:
            await repo.save(basket)
    await repo.save(basket)


async def test_new_aggregate_loads_at_version_zero_and_save_creates_it(store: EventStore) -> None:
    """Loading an unknown id gives version 0; saving it appends with expected version 0 and bumps the version."""
    repo = Repository(store, Basket)
    basket = await repo.load("b1")
    assert (basket.version, basket.titles) == (0, [])
    basket.add("apple", 3)
    assert await repo.save(basket) == 1
    assert (basket.version, basket.pending) == (1, [])
    again = await repo.load("b1")
    assert (again.version, again.titles, again.total) == (1, ["apple"], 3)


async def test_snapshot_plus_tail_equals_full_replay(client: aioredis.Redis, store: EventStore) -> None:
    """With snapshots every 10 events, a load applies only the tail and ends in the same state as a full replay."""
    snapped = Repository(store, Basket, snapshot_every=10)
    await fill(snapped, "b1", list(range(1, 28)), save_every=4)
    assert await client.exists(parse("basket-b1").snapshot)
    fast = await snapped.load("b1")
    full = await Repository(store, Basket).load("b1")
    assert (fast.version, fast.titles, fast.total) == (full.version, full.titles, full.total) == (27, full.titles, 378)
    assert full.applied == 27
    assert fast.applied == 27 - 20  # saves at 4, 8, ... 24, 27: the one reaching 20 took the last snapshot


async def snapshot_matches_replay(url: str, quantities: list[int], save_every: int, snapshot_every: int) -> None:
    """Fill one fresh basket, then compare a snapshot load with a full replay."""
    client = aioredis.Redis.from_url(url)
    try:
        store = EventStore(client, BusConfig(redis_url=url, producer="tests"))
        basket_id = uuid.uuid4().hex
        snapped = Repository(store, Basket, snapshot_every=snapshot_every)
        await fill(snapped, basket_id, quantities, save_every)
        fast, full = await snapped.load(basket_id), await Repository(store, Basket).load(basket_id)
        assert (fast.version, fast.titles, fast.total) == (full.version, full.titles, full.total)
        assert full.version == len(quantities)
        assert fast.applied <= full.applied
    finally:
        await client.aclose()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    quantities=st.lists(st.integers(1, 1000), min_size=1, max_size=40),
    save_every=st.integers(1, 7),
    snapshot_every=st.integers(1, 12),
)
def test_any_snapshot_cadence_loads_the_replayed_state(
    redis_url: str, quantities: list[int], save_every: int, snapshot_every: int
) -> None:
    """For any events, save cadence and snapshot cadence, snapshot + tail gives the full replay's state."""
    asyncio.run(snapshot_matches_replay(redis_url, quantities, save_every, snapshot_every))


async def test_snapshot_of_an_older_state_version_is_ignored(store: EventStore) -> None:
    """A snapshot written by state_version 1 is not restored by state_version 2: every event is replayed."""
    old = Repository(store, OldBasket, snapshot_every=5)
    await fill(old, "b1", [1, 2, 3, 4, 5, 6], save_every=5)  # snapshot {"count": 5} at version 5
    assert (await old.load("b1")).applied == 1  # the old code does use its own snapshot
    new = await Repository(store, Basket, snapshot_every=5).load("b1")
    assert new.applied == 6
    assert (new.titles, new.total) == (["t0", "t1", "t2", "t3", "t4", "t5"], 21)


async def test_unreadable_snapshot_falls_back_to_replay(client: aioredis.Redis, store: EventStore) -> None:
    """A corrupt snapshot is ignored (it is only a cache): the load replays every event."""
    repo = Repository(store, Basket, snapshot_every=2)
    await fill(repo, "b1", [1, 2], save_every=2)
    await client.set(parse("basket-b1").snapshot, b"{not json")
    basket = await repo.load("b1")
    assert (basket.applied, basket.total) == (2, 3)


async def test_second_saver_of_one_version_gets_concurrency_error_and_keeps_pending(store: EventStore) -> None:
    """Two loads of version 1 both save: the second raises ConcurrencyError and its events stay pending."""
    repo = Repository(store, Basket)
    await fill(repo, "b1", [1], save_every=1)
    first, second = await repo.load("b1"), await repo.load("b1")
    first.add("x", 1)
    second.add("y", 1)
    await repo.save(first)
    with pytest.raises(ConcurrencyError, match="expected version 1, actual version 2"):
        await repo.save(second)
    assert len(second.pending) == 1
    assert (await repo.load("b1")).titles == ["t0", "x"]


async def test_save_with_a_cause_links_and_repeats_ids(store: EventStore) -> None:
    """save(cause=env) sets correlation/causation and derives ids from it, so a repeated save is absorbed."""
    cause = Envelope.wrap(ItemCreated(title="cmd"), producer="tests", correlation_id="corr-7")
    repo = Repository(store, Basket)
    first = await repo.load("b1")
    first.add("a", 1)
    await repo.save(first, cause=cause)
    replay = Basket("b1")  # a redelivered handler deciding the same event on the state it saw before
    replay.add("a", 1)
    assert await repo.save(replay, cause=cause) == 1
    (rec,) = await store.read("basket-b1")
    assert (rec.envelope.correlation_id, rec.envelope.causation_id) == ("corr-7", cause.id)


def test_snapshot_every_must_be_positive() -> None:
    """snapshot_every=0 is refused with ConfigError."""
    with pytest.raises(ConfigError, match="snapshot_every"):
        Repository(EventStore.__new__(EventStore), Basket, snapshot_every=0)
