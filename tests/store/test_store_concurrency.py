"""Concurrent writers on one aggregate: one winner per version, and no gap or duplicate with retries."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiwf.bus.config import BusConfig
from aiwf.bus.store import ConcurrencyError, EventStore
from aiwf.schemas import Envelope
from tests.events import ItemCreated


def created(title: str) -> Envelope:
    """A new ItemCreated envelope."""
    return Envelope.wrap(ItemCreated(title=title), producer="tests")


async def test_concurrent_writers_at_one_expected_version_have_exactly_one_winner(store: EventStore) -> None:
    """Eight writers at one expected version, five rounds: one wins each round, seven learn the actual version."""
    for version in range(5):
        results = await asyncio.gather(
            *(store.append("item-race", [created(f"{version}-{w}")], expected_version=version) for w in range(8)),
            return_exceptions=True,
        )
        wins = [r for r in results if isinstance(r, int)]
        losses = [r for r in results if isinstance(r, ConcurrencyError)]
        assert wins == [version + 1]
        assert len(losses) == 7
        assert {(e.expected, e.actual) for e in losses} == {(version, version + 1)}
    assert await store.version("item-race") == 5


async def writer(store: EventStore, stream_id: str, name: str, events: int, batch: int) -> list[list[str]]:
    """Append `events` events in batches, taking the actual version from each ConcurrencyError; returns batch ids."""
    done: list[list[str]] = []
    expected = 0
    for start in range(0, events, batch):
        envs = [created(f"{name}-{i}") for i in range(start, min(start + batch, events))]
        while True:
            try:
                expected = await store.append(stream_id, envs, expected_version=expected)
                break
            except ConcurrencyError as exc:
                expected = exc.actual
        done.append([e.id for e in envs])
    return done


async def race(url: str, writers: int, events: int, batch: int) -> None:
    """Run the writers concurrently on one fresh aggregate and check its stream and both views."""
    client = aioredis.Redis.from_url(url)
    try:
        store = EventStore(client, BusConfig(redis_url=url, producer="tests"))
        sid = f"race-{uuid.uuid4().hex}"
        batches = await asyncio.gather(*(writer(store, sid, f"w{w}", events, batch) for w in range(writers)))
        stored = await store.read(sid)
        ids = [r.envelope.id for r in stored]
        assert [r.version for r in stored] == list(range(1, writers * events + 1))  # no gap
        assert sorted(ids) == sorted(i for b in batches for batch_ids in b for i in batch_ids)  # no loss, no duplicate
        for b in (batch_ids for per_writer in batches for batch_ids in per_writer):
            at = ids.index(b[0])
            assert ids[at : at + len(b)] == b  # each batch contiguous: all or nothing
        in_category = [r.envelope.id for r in await store.read_category("race", limit=10_000) if r.stream_id == sid]
        in_global = [r.envelope.id for r in await store.read_all(limit=10_000) if r.stream_id == sid]
        assert in_category == ids
        assert in_global == ids
    finally:
        await client.aclose()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writers=st.integers(2, 6), events=st.integers(1, 8), batch=st.integers(1, 3))
def test_writers_with_a_retry_loop_all_append_without_gap_or_duplicate(
    redis_url: str, writers: int, events: int, batch: int
) -> None:
    """N writers retrying on ConcurrencyError all get in: versions 1..total, each id once, batches whole."""
    asyncio.run(race(redis_url, writers, events, batch))
