"""Processed-markers in buckets: compact for UUIDv7 ids, plain keys for others, same guarantees."""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import cast

import pytest
import redis.asyncio as aioredis

from aiwf.bus import Context, Publisher, Subscription, keys, markers
from aiwf.bus.commit import COMMITTED, DUPLICATE, CommitBatch, Committer
from aiwf.bus.config import BusConfig
from aiwf.bus.groups import ensure_group
from aiwf.bus.publish import build
from aiwf.bus.scripts import Script
from aiwf.dlq.letters import Letter
from aiwf.dlq.replay_call import SUPPRESSED, Limits, replay_call
from aiwf.dlq.replay_groups import Markers
from aiwf.schemas import Event, new_id
from tests.contract.harness import drain, running
from tests.events import ItemCounted, ItemCreated
from tests.replies import Entries

NOW_MS = 1_767_000_000_000  # the start of a second


def uuid7_at(ms: int) -> str:
    """A UUIDv7 made at `ms` (version and variant bits set, the rest random)."""
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = 0x70 | (raw[6] & 0x0F)
    raw[8] = 0x80 | (raw[8] & 0x3F)
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def test_a_uuid7_id_is_a_field_of_its_seconds_hash_in_the_streams_slot() -> None:
    """A UUIDv7 maps to its last 12 bytes in the hash of its second; copies of it map to the same place."""
    eid = uuid7_at(NOW_MS)
    mark = markers.marker("documents", "llm", eid)
    assert mark == markers.marker("documents", "llm", eid)
    assert mark.field == bytes.fromhex(eid.replace("-", ""))[4:]  # the rest is implied by the bucket
    assert mark.key.startswith(f"aiwf:marks:{{documents}}:llm:{NOW_MS // markers.BUCKET_MS}:")
    assert int(mark.key.rsplit(":", 1)[1]) < markers.SHARDS
    assert markers.marker("documents", "other", eid).key != mark.key


def test_ids_sharing_the_field_bytes_never_share_a_bucket() -> None:
    """Two ids alike but for their top 4 bytes are 65.5 s apart, so they land in different hashes."""
    eid = uuid7_at(NOW_MS + 500)
    twin = uuid7_at(NOW_MS + 500 + 65_536)[:14] + eid[14:]  # same last 12 bytes, 65,536 ms later
    one, other = markers.marker("documents", "llm", eid), markers.marker("documents", "llm", twin)
    assert one.field == other.field
    assert one.key != other.key


@pytest.mark.parametrize("eid", ["order-1", "0190a8c4-7b3e-4e2a-9c1d-1234567890ab", uuid7_at(NOW_MS).upper(), "x" * 36])
def test_any_other_id_keeps_a_plain_key(eid: str) -> None:
    """A producer's own key, a UUIDv4 or a UUIDv7 spelled otherwise: one string key per id, as before."""
    assert markers.marker("documents", "llm", eid) == markers.Marker(keys.processed("documents", "llm", eid))


@pytest.mark.parametrize("eid", [None, "order-1"], ids=["uuid7", "custom"])
async def test_a_duplicate_publish_runs_once(client: aioredis.Redis, config: BusConfig, eid: str | None) -> None:
    """An event published twice (bus UUIDv7 or a custom id) runs once; its marker is where markers.py says."""
    pub = Publisher(client, config)
    eid = eid or new_id()
    for _ in range(2):
        await pub.publish(ItemCreated(title="once"), event_id=eid)
    sub = Subscription(stream="testing", group="dedupe")
    runs: Counter[str] = Counter()

    @sub.handler
    async def count(event: ItemCreated, ctx: Context) -> list[Event]:
        runs[ctx.envelope.id] += 1
        return [ItemCounted(source_title=event.title, n=1)]

    async with running(sub, config):
        await drain(client, sub)
    assert runs == Counter({eid: 1})
    mark = markers.marker("testing", "dedupe", eid)
    assert await markers.values(client, [mark]) == [markers.DONE]
    assert 0 < await client.ttl(mark.key) <= config.marker_ttl_s
    assert await markers.count(client, "testing", "dedupe") == 1
    # A copy arriving later (a replay, a group re-reading) is skipped too.
    await pub.publish(ItemCreated(title="once"), event_id=eid)
    async with running(sub, config):
        await drain(client, sub)
    assert runs == Counter({eid: 1})


async def commit_ids(client: aioredis.Redis, config: BusConfig, ids: list[str]) -> list[int]:
    """Commit markers for `ids` through the real commit script, as group `g` on `testing`."""
    await ensure_group(client, keys.stream("testing"), "g")
    batch = CommitBatch("testing", "g", config.marker_ttl_s)
    for n, eid in enumerate(ids):
        batch.ok(f"1-{n}", eid, [])
    return (await Committer(client, config).commit(batch)).codes


async def test_one_second_at_the_design_rate_stays_listpack(client: aioredis.Redis, config: BusConfig) -> None:
    """2,900 events of one second fill SHARDS hashes, each compact (listpack/ziplist) and expiring."""
    ids = [uuid7_at(NOW_MS + n % 1000) for n in range(2900)]
    assert await commit_ids(client, config, ids) == [COMMITTED] * len(ids)
    limit = await markers.listpack_entries(client)
    assert limit is not None
    bucket = [k async for k in client.scan_iter(match=f"aiwf:marks:{{testing}}:g:{NOW_MS // 1000}:*")]
    assert len(bucket) == markers.SHARDS
    sizes = [await client.hlen(k) for k in bucket]
    assert sum(sizes) == len(ids)
    assert max(sizes) <= min(limit, 128)  # 128: the shipped redis.conf's value, whatever this server has
    for key in bucket:
        assert await client.object("encoding", key) in {b"listpack", b"ziplist"}
        assert config.marker_ttl_s - 5 < await client.ttl(key) <= config.marker_ttl_s
    assert await commit_ids(client, config, ids[:10]) == [DUPLICATE] * 10


async def test_past_the_compact_size_markers_still_dedupe(client: aioredis.Redis, config: BusConfig) -> None:
    """At 10x the rate a hash converts to a hashtable; every marker is still found."""
    ids = [uuid7_at(NOW_MS) for _ in range(29_000)]
    assert set(await commit_ids(client, config, ids)) == {COMMITTED}
    mark = markers.marker("testing", "g", ids[0])
    assert await client.object("encoding", mark.key) == b"hashtable"
    assert await markers.already_done(client, [markers.marker("testing", "g", i) for i in ids]) == [True] * len(ids)
    assert await markers.already_done(client, [markers.marker("testing", "g", uuid7_at(NOW_MS))]) == [False]


async def test_a_late_marker_lives_the_whole_ttl(client: aioredis.Redis, config: BusConfig) -> None:
    """A marker for an event made long ago (a backlog read late) expires a TTL after its commit, not before."""
    old = uuid7_at(int(time.time() * 1000) - 30 * 86_400_000)
    assert await commit_ids(client, config, [old]) == [COMMITTED]
    mark = markers.marker("testing", "g", old)
    assert config.marker_ttl_s - 5 < await client.ttl(mark.key) <= config.marker_ttl_s


async def test_the_consumer_check_reads_both_kinds_in_one_call(client: aioredis.Redis, config: BusConfig) -> None:
    """`already_done` answers per marker, in order, for hash fields and plain keys mixed."""
    done_ids = [new_id(), "custom-1", new_id()]
    assert await commit_ids(client, config, done_ids) == [COMMITTED] * 3
    asked = [new_id(), done_ids[0], "custom-2", done_ids[1], done_ids[2]]
    marks = [markers.marker("testing", "g", i) for i in asked]
    assert await markers.already_done(client, marks) == [False, True, False, True, True]
    assert await markers.already_done(client, []) == []


async def test_a_commit_counts_each_marker_once(client: aioredis.Redis, config: BusConfig) -> None:
    """One event per entry: the stream's entries and the group's markers agree after a run."""
    pub = Publisher(client, config)
    for n in range(20):
        await pub.publish(ItemCreated(title=f"t{n}"))
    sub = Subscription(stream="testing", group="many")

    @sub.handler
    async def none(event: ItemCreated, ctx: Context) -> list[Event]:
        return []

    async with running(sub, config):
        await drain(client, sub)
    entries = cast("Entries", await client.xrange(keys.stream("testing")))
    assert await markers.count(client, "testing", "many") == len(entries) == 20


@pytest.mark.parametrize("eid", [None, "order-7"], ids=["uuid7", "custom"])
async def test_a_replay_suppresses_and_clears_either_kind(client: aioredis.Redis, eid: str | None) -> None:
    """The replay script sets a suppression marker unless one is there, and clears only its own kind."""
    env = build("testing.item.created", {"title": "t"}, producer="tests", event_id=eid or new_id())
    other, failed, committed = (markers.marker("testing", g, env.id) for g in ("other", "failed", "committed"))
    await commit_marker(client, committed)

    async def replay(touched: Markers) -> None:
        entry = await client.xadd(keys.dead_letters("testing"), {"letter": "1"})
        letter = Letter.from_entry("testing", entry, {})
        call = replay_call(letter, env, touched, Limits(10, 3600), {"kind": "test"})
        assert (await Script(client, "replay")(call))[0] == b"replayed"

    await replay(Markers(suppress=[other, committed], clear=[]))
    assert await markers.values(client, [other, committed]) == [SUPPRESSED.encode(), markers.DONE]
    assert 0 < await client.ttl(other.key) <= 3600
    await replay(Markers(suppress=[], clear=[other, failed, committed]))
    assert await markers.values(client, [other, failed, committed]) == [None, None, markers.DONE]


async def commit_marker(client: aioredis.Redis, mark: markers.Marker) -> None:
    """The marker a commit leaves, written as commit.lua writes it."""
    if mark.field:
        await client.hset(mark.key, mark.field, markers.DONE)
    else:
        await client.set(mark.key, markers.DONE)
