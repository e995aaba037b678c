"""Aggregates and the repository: snapshot + tail equals a full replay; old snapshot shapes are ignored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiwf.bus.config import BusConfig
from aiwf.bus.errors import ConfigError
from aiwf.bus.store import Aggregate, ConcurrencyError, EventStore, Repository, StoreError
from aiwf.bus.store.aggregate import CAUSED_IDS
from aiwf.bus.store.stream_id import parse
from aiwf.schemas import Envelope, Event
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


class CrashingStore(EventStore):
    """The real store, except that its `crash_at`-th append raises as if the worker were killed before it."""

    def __init__(self, store: EventStore, crash_at: int) -> None:
        super().__init__(store.client, store.config)
        self.crash_at, self.appends = crash_at, 0
        self.sizes: list[int] = []

    async def append(self, stream_id: str, envelopes: Sequence[Envelope], expected_version: int | None = None) -> int:
        self.appends += 1
        self.sizes.append(len(envelopes))
        if self.appends == self.crash_at:
            raise RuntimeError("worker killed")
        return await super().append(stream_id, envelopes, expected_version)


def caused_id(cause: Envelope, stream_id: str, position: int) -> str:
    """The id save(cause=...) gives the event at `position` among the cause's events in `stream_id`."""
    return str(uuid.uuid5(CAUSED_IDS, f"{cause.id}/{stream_id}/{position}"))


def basket_of(n: int, start: int = 0) -> Basket:
    """A fresh basket holding the decision 'add items start..n-1' as pending events."""
    basket = Basket("big")
    for i in range(start, n):
        basket.add(f"t{i}", 1)
    return basket


async def test_a_save_of_more_events_than_one_append_holds_stores_all_under_the_real_cause(store: EventStore) -> None:
    """2500 events of one cause land in three appends, versions 1..2500, ids by position, causation = the cause."""
    cause = Envelope.wrap(ItemCreated(title="cmd"), producer="tests", correlation_id="corr-big")
    counting = CrashingStore(store, crash_at=0)
    assert await Repository(counting, Basket).save(basket_of(2500), cause=cause) == 2500
    assert counting.appends == 3
    stored = await store.read("basket-big")
    assert [r.version for r in stored] == list(range(1, 2501))
    assert [r.envelope.id for r in stored] == [caused_id(cause, "basket-big", i) for i in range(2500)]
    assert {(r.envelope.causation_id, r.envelope.correlation_id) for r in stored} == {(cause.id, "corr-big")}


@pytest.mark.parametrize("crash_at", [2, 3])
async def test_a_save_crashed_between_appends_and_redelivered_stores_every_event_once(
    store: EventStore, crash_at: int
) -> None:
    """Killed before its 2nd (or 3rd) 4-event append, the redelivered save of the same decision stores only the rest."""
    cause = Envelope.wrap(ItemCreated(title="cmd"), producer="tests")
    with pytest.raises(RuntimeError, match="worker killed"):
        await Repository(CrashingStore(store, crash_at), Basket, batch=4).save(basket_of(10), cause=cause)
    assert await store.version("basket-big") == 4 * (crash_at - 1)
    repo = Repository(store, Basket, batch=4, snapshot_every=3)
    assert await repo.save(basket_of(10), cause=cause) == 10  # decided again on the state it saw before
    stored = await store.read("basket-big")
    assert [r.envelope.id for r in stored] == [caused_id(cause, "basket-big", i) for i in range(10)]
    assert {r.envelope.causation_id for r in stored} == {cause.id}
    assert (await repo.load("big")).titles == [f"t{i}" for i in range(10)]


async def test_a_reloaded_handler_resumes_a_crashed_save_after_its_stored_events(store: EventStore) -> None:
    """A handler that reloads and records only the missing events saves them with resume_at: same ids, none twice."""
    cause = Envelope.wrap(ItemCreated(title="cmd"), producer="tests")
    with pytest.raises(RuntimeError, match="worker killed"):
        await Repository(CrashingStore(store, 3), Basket, batch=4).save(basket_of(10), cause=cause)
    repo = Repository(store, Basket, batch=4)
    basket = await repo.load("big")
    assert basket.version == 8
    for i in range(basket.version, 10):
        basket.add(f"t{i}", 1)
    assert await repo.save(basket, cause=cause, resume_at=8) == 10
    stored = await store.read("basket-big")
    assert [r.envelope.id for r in stored] == [caused_id(cause, "basket-big", i) for i in range(10)]
    assert (await repo.load("big")).titles == [f"t{i}" for i in range(10)]


async def test_a_resumed_save_cuts_its_appends_where_the_first_save_did(store: EventStore) -> None:
    """Appends end at positions that are multiples of `batch`, so a replay's appends never half-overlap stored ones."""
    cause = Envelope.wrap(ItemCreated(title="cmd"), producer="tests")
    with pytest.raises(RuntimeError, match="worker killed"):
        await Repository(CrashingStore(store, 2), Basket, batch=3).save(basket_of(10), cause=cause)
    resumed = CrashingStore(store, 0)
    basket = await Repository(store, Basket).load("big")
    for i in range(3, 10):
        basket.add(f"t{i}", 1)
    assert await Repository(resumed, Basket, batch=4).save(basket, cause=cause, resume_at=3) == 10
    assert resumed.sizes == [1, 4, 2]  # positions 3 | 4..7 | 8..9
    assert await Repository(store, Basket, batch=4).save(basket_of(10), cause=cause) == 10  # a replay: all stored


async def test_a_writer_between_two_appends_stops_the_save_and_leaves_the_instance_unchanged(
    store: EventStore,
) -> None:
    """When another writer appends between two appends of a save, the second raises; the first stays stored."""

    class Interleaved(EventStore):
        async def append(
            self, stream_id: str, envelopes: Sequence[Envelope], expected_version: int | None = None
        ) -> int:
            version = await super().append(stream_id, envelopes, expected_version)
            if version == 2:
                await store.append(stream_id, [Envelope.wrap(ItemCreated(title="other"), producer="tests")])
            return version

    basket = basket_of(5)
    with pytest.raises(ConcurrencyError, match="expected version 2, actual version 3"):
        await Repository(Interleaved(store.client, store.config), Basket, batch=2).save(basket)
    assert (basket.version, len(basket.pending)) == (0, 5)
    assert (await Repository(store, Basket).load("big")).titles == ["t0", "t1", "other"]


async def test_resume_at_and_batch_are_checked(store: EventStore) -> None:
    """A negative resume_at is a StoreError and a batch over the store's limit a ConfigError, before any write."""
    with pytest.raises(ConfigError, match=r"batch must be 1\.\.1000"):
        Repository(store, Basket, batch=1001)
    with pytest.raises(StoreError, match="resume_at"):
        await Repository(store, Basket).save(basket_of(1), resume_at=-1)
    assert await store.version("basket-big") == 0
