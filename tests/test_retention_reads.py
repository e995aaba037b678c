"""A retention pass finds its trim point from ids and counts only: no entry body reaches the worker."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

from aiwf.bus import keys
from aiwf.bus.groups import ensure_group
from aiwf.bus.retention import trim
from tests.replies import Entries, StreamEntries

STREAM = keys.stream("testing")
BODY = b"x" * 200_000
#: Far below one body: the pass's replies are ids, counts and one INFO reply.
MAX_PASS_BYTES = 20_000


async def fill(client: aioredis.Redis, n: int) -> list[bytes]:
    """n entries of 200 KB each; their ids."""
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(STREAM, {"id": f"e{i}", "type": "testing.item.created", "body": BODY})
    return list(await pipe.execute())


async def read_and_ack(client: aioredis.Redis, group: str, count: int, *, ack: bool) -> None:
    """`group` reads `count` entries and acknowledges them if `ack`."""
    reply = cast("StreamEntries", await client.xreadgroup(group, "c", {STREAM: ">"}, count=count))
    if ack:
        await client.xack(STREAM, group, *[eid for eid, _ in reply[0][1]])


async def server_bytes_out(client: aioredis.Redis) -> int:
    """Bytes the server has sent to all clients so far (INFO stats)."""
    return int((await client.info("stats"))["total_net_output_bytes"])


async def test_a_pass_over_acknowledged_large_events_reads_no_bodies(client: aioredis.Redis, redis_url: str) -> None:
    """Every group is done with 40 events of 200 KB: trim keeps the newest 10, and the pass receives only ids."""
    await ensure_group(client, STREAM, "done")
    await fill(client, 40)
    await read_and_ack(client, "done", 40, ack=True)
    worker = aioredis.Redis.from_url(redis_url)
    before = await server_bytes_out(client)
    report = await trim(worker, STREAM, keep=10)
    sent = await server_bytes_out(client) - before
    await worker.aclose()
    assert report.trimmed == 30
    assert await client.xlen(STREAM) == 10
    assert sent < MAX_PASS_BYTES, f"a retention pass received {sent} bytes"


async def test_a_pass_with_a_lagging_group_reads_no_bodies_and_keeps_its_backlog(
    client: aioredis.Redis, redis_url: str
) -> None:
    """A group with pending and unread large entries: the pass trims only below them, and receives only ids."""
    await ensure_group(client, STREAM, "fast")
    await ensure_group(client, STREAM, "slow")
    ids = await fill(client, 40)
    await read_and_ack(client, "fast", 40, ack=True)
    await read_and_ack(client, "slow", 20, ack=True)
    await read_and_ack(client, "slow", 5, ack=False)  # entries 20..24 pending, 25..39 unread
    worker = aioredis.Redis.from_url(redis_url)
    before = await server_bytes_out(client)
    report = await trim(worker, STREAM, keep=5, alarm_at=10)
    sent = await server_bytes_out(client) - before
    await worker.aclose()
    left = [eid for eid, _ in cast("Entries", await client.xrange(STREAM))]
    assert set(ids[20:]) <= set(left)  # everything the slow group still needs is kept
    assert report.safe_min_id == ids[20].decode()
    assert report.trimmed == 40 - len(left)
    assert report.trimmed > 0  # 200 KB entries sit one per stream node: the acked ones go
    assert report.alarm  # 20 entries still needed, past the bound of 10
    assert sent < MAX_PASS_BYTES, f"a retention pass received {sent} bytes"
