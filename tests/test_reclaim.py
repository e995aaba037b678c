"""reclaim_idle: a dead consumer's whole backlog comes back in one pass, bounded by time."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from aiwf.bus import keys
from aiwf.bus.groups import ensure_group
from aiwf.bus.reclaim import SCAN_DONE, Delivery, reclaim_idle

STREAM = keys.stream("testing")
GROUP = "reclaim"


async def orphan(client: aioredis.Redis, n: int, consumer: str = "dead") -> list[str]:
    """n entries read by `consumer` and never acknowledged: its pending list after a crash."""
    await ensure_group(client, STREAM, GROUP)
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(STREAM, {"id": f"e{i}", "type": "testing.item.created", "body": b"{}"})
    ids = [eid.decode() for eid in await pipe.execute()]
    await client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=n)
    return ids


async def claim_all(
    client: aioredis.Redis, min_idle_ms: int = 10, **bounds: object
) -> tuple[list[Delivery], list[str]]:
    """Run one pass; the deliveries claimed and the cursor of each page."""
    claimed: list[Delivery] = []
    cursors: list[str] = []
    async for page in reclaim_idle(client, STREAM, GROUP, "alive", min_idle_ms, **bounds):  # type: ignore[arg-type]
        claimed += page.deliveries
        cursors.append(page.cursor)
    return claimed, cursors


async def test_two_thousand_orphans_are_all_reclaimed_within_seconds(client: aioredis.Redis) -> None:
    """2,000 entries of a dead consumer are all claimed by a live one in one pass of a few seconds."""
    ids = await orphan(client, 2000)
    await asyncio.sleep(0.05)  # idle past the 10 ms threshold
    started = time.monotonic()
    claimed, cursors = await claim_all(client, budget_s=5.0, page=200)
    assert time.monotonic() - started < 3.0
    assert sorted(d.entry_id for d in claimed) == sorted(ids)
    assert {d.deliveries for d in claimed} == {2}
    assert all(d.fields is not None for d in claimed)
    assert cursors[-1] == SCAN_DONE
    rows = await client.xpending_range(STREAM, GROUP, "-", "+", 3000)
    assert {r["consumer"] for r in rows} == {b"alive"}


async def test_a_pass_ends_at_its_budget_and_resumes_from_its_cursor(client: aioredis.Redis) -> None:
    """A zero budget claims one page; the next pass from its cursor claims the rest."""
    ids = await orphan(client, 50)
    await asyncio.sleep(0.05)
    first, cursors = await claim_all(client, budget_s=0.0, page=20)
    assert len(first) == 20
    assert cursors[-1] != SCAN_DONE
    rest, cursors = await claim_all(client, budget_s=5.0, page=20, cursor=cursors[-1])
    assert sorted(d.entry_id for d in first + rest) == sorted(ids)
    assert cursors[-1] == SCAN_DONE


async def test_max_count_bounds_a_pass_and_fresh_entries_stay_with_their_owner(client: aioredis.Redis) -> None:
    """max_count caps what one pass claims, and entries not yet idle are never taken."""
    await orphan(client, 30)
    await asyncio.sleep(0.6)
    fresh = await orphan(client, 5, consumer="busy")  # read just now: not idle past the 500 ms threshold
    claimed, _ = await claim_all(client, 500, budget_s=5.0, page=7, max_count=25)
    assert len(claimed) == 25
    everything, _ = await claim_all(client, 500, budget_s=5.0, page=100)
    claimed += everything
    assert not {d.entry_id for d in claimed} & set(fresh)
    assert len(claimed) == 30
