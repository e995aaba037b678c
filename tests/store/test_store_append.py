"""Append and read: expected versions, idempotent retries, all-or-nothing, views, upcasting."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from aiwf.bus import codec
from aiwf.bus.errors import TransientError
from aiwf.bus.keys import GLOBAL_STREAM, category_stream
from aiwf.bus.store import ANY, NO_STREAM, ConcurrencyError, EventStore, IdempotencyConflict, StoreError
from aiwf.bus.store.stream_id import parse
from aiwf.schemas import Envelope
from tests.events import ItemCounted, ItemCreated, ItemCreatedV1


def created(title: str, quantity: int = 1) -> Envelope:
    """A new ItemCreated envelope."""
    return Envelope.wrap(ItemCreated(title=title, quantity=quantity), producer="tests")


async def test_append_then_read_returns_events_in_version_order(store: EventStore) -> None:
    """Three appended events read back as versions 1..3 with their ids and models."""
    envs = [created("a"), created("b", 2), created("c", 3)]
    assert await store.append("item-1", envs, expected_version=NO_STREAM) == 3
    got = await store.read("item-1")
    stored = [(r.version, r.envelope.id, r.stream_id) for r in got]
    assert stored == [(v, e.id, "item-1") for v, e in enumerate(envs, 1)]
    assert [r.event for r in got] == [ItemCreated(title=t, quantity=q) for t, q in (("a", 1), ("b", 2), ("c", 3))]
    assert await store.version("item-1") == 3


async def test_read_from_version_is_inclusive(store: EventStore) -> None:
    """read(from_version=2) starts at version 2; past the end it is empty."""
    await store.append("item-1", [created(str(i)) for i in range(5)])
    assert [r.version for r in await store.read("item-1", from_version=2)] == [2, 3, 4, 5]
    assert await store.read("item-1", from_version=6) == []
    assert await store.read("item-none") == []


async def test_wrong_expected_version_names_both_and_writes_nothing(store: EventStore) -> None:
    """Expecting version 1 of a 2-event stream raises ConcurrencyError(expected=1, actual=2); nothing is added."""
    await store.append("item-1", [created("a"), created("b")], expected_version=0)
    with pytest.raises(ConcurrencyError, match="expected version 1, actual version 2") as info:
        await store.append("item-1", [created("c")], expected_version=1)
    assert (info.value.expected, info.value.actual, info.value.stream_id) == (1, 2, "item-1")
    assert isinstance(info.value, TransientError)  # a handler raising it is redelivered and reloads
    assert await store.version("item-1") == 2


async def test_expected_zero_refuses_an_existing_stream_and_any_accepts(store: EventStore) -> None:
    """expected_version=0 means 'must not exist'; None and ANY append at whatever version."""
    await store.append("item-1", [created("a")], expected_version=0)
    with pytest.raises(ConcurrencyError):
        await store.append("item-1", [created("b")], expected_version=0)
    assert await store.append("item-1", [created("c")], expected_version=None) == 2
    assert await store.append("item-1", [created("d")], expected_version=ANY) == 3
    with pytest.raises(StoreError, match="expected_version"):
        await store.append("item-1", [created("e")], expected_version=-2)


async def test_retried_append_is_a_noop_returning_the_existing_version(
    client: aioredis.Redis, store: EventStore
) -> None:
    """Re-appending the same batch (same ids) writes nothing anywhere and returns its last version."""
    batch = [created("a"), created("b")]
    assert await store.append("item-1", batch, expected_version=0) == 2
    await store.append("item-1", [created("c")], expected_version=2)
    assert await store.append("item-1", batch, expected_version=0) == 2  # the retry of the first append
    assert await store.version("item-1") == 3
    assert await client.xlen(category_stream("item")) == 3
    assert await client.xlen(GLOBAL_STREAM) == 3


async def test_partly_stored_batch_is_refused(store: EventStore) -> None:
    """A batch mixing stored and new ids, or stored ids out of order, raises IdempotencyConflict and writes nothing."""
    a, b = created("a"), created("b")
    await store.append("item-1", [a, b])
    with pytest.raises(IdempotencyConflict, match=a.id):
        await store.append("item-1", [a, created("c")])
    with pytest.raises(IdempotencyConflict, match="same order"):
        await store.append("item-1", [b, a])
    assert await store.version("item-1") == 2


async def test_batch_with_one_bad_event_writes_nothing(client: aioredis.Redis, store: EventStore) -> None:
    """An oversized event or a repeated id in the middle of a batch refuses the whole batch."""
    huge = created("x" * 999_900)  # under the model limit, over the envelope limit
    with pytest.raises(StoreError, match="over AIWF_MAX_EVENT_BYTES"):
        await store.append("item-1", [created("a"), huge, created("b")])
    same = created("a")
    with pytest.raises(StoreError, match="repeats an event id"):
        await store.append("item-1", [same, same])
    with pytest.raises(StoreError, match=r"1\.\.1000 events"):
        await store.append("item-1", [])
    assert await client.dbsize() == 0


@pytest.mark.parametrize("bad", ["item", "Item-1", "all-1", "item-", "item-has space", "-1", "9x-1"])
async def test_bad_stream_id_is_refused_with_its_shape(store: EventStore, bad: str) -> None:
    """A stream id that is not `<category>-<id>` raises StoreError naming the expected shape."""
    with pytest.raises(StoreError, match=r"category|id"):
        await store.append(bad, [created("a")])


async def test_category_and_global_views_hold_every_event_in_append_order(store: EventStore) -> None:
    """Appends to two categories show up in their category views and, interleaved, in the global log."""
    await store.append("item-1", [created("a")])
    await store.append("count-1", [Envelope.wrap(ItemCounted(source_title="a", n=1), producer="tests")])
    await store.append("item-2", [created("b"), created("c")])
    items = await store.read_category("item")
    assert [(r.stream_id, r.version) for r in items] == [("item-1", 1), ("item-2", 1), ("item-2", 2)]
    everything = await store.read_all()
    expected = [("item-1", 1), ("count-1", 1), ("item-2", 1), ("item-2", 2)]
    assert [(r.stream_id, r.version) for r in everything] == expected
    assert [r.position for r in everything] == sorted(r.position for r in everything)


async def test_log_reads_page_from_a_position(store: EventStore) -> None:
    """Reading the global log in pages of 2 from the last position seen returns each event once."""
    envs = [created(str(i)) for i in range(5)]
    await store.append("item-1", envs)
    seen, after = [], "0-0"
    while page := await store.read_all(after=after, limit=2):
        seen += [r.envelope.id for r in page]
        after = page[-1].position
    assert seen == [e.id for e in envs]
    with pytest.raises(StoreError, match="position"):
        await store.read_all(after="not-a-position")


async def test_v1_event_stored_before_a_schema_change_reads_back_as_v2(store: EventStore) -> None:
    """An ItemCreated v1 {name} comes back from every read as the v2 model {title, quantity}."""
    old = Envelope.wrap(ItemCreatedV1(name="legacy"), producer="tests")
    assert old.version == 1
    await store.append("item-1", [old])
    for rec in [*(await store.read("item-1")), *(await store.read_category("item")), *(await store.read_all())]:
        assert rec.event == ItemCreated(title="legacy", quantity=1)
        assert rec.envelope.version == 1  # stored as written; only the model is upcast


async def test_keys_share_the_category_hash_tag(store: EventStore) -> None:
    """The aggregate stream, index, snapshot and category view of one aggregate share one hash tag."""
    sid = parse("item-42")
    keys = (sid.events, sid.event_ids, sid.snapshot, category_stream("item"))
    tags = {k[k.index("{") : k.index("}") + 1] for k in keys}
    assert tags == {"{es-item}"}


async def test_log_reads_skip_entries_not_written_by_an_append(client: aioredis.Redis, store: EventStore) -> None:
    """A bare bus entry on a category view (e.g. a DLQ replay for a projection) is not part of the log."""
    await store.append("item-1", [created("a")])
    await client.xadd(category_stream("item"), codec.encode(created("replayed")))  # type: ignore[arg-type]
    await store.append("item-1", [created("b")])
    assert [r.event.title for r in await store.read_category("item")] == ["a", "b"]  # type: ignore[attr-defined]
