"""A retention backlog past its bound and a recreated group show in `aiwf streams`, `aiwf health` and GET /health."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import redis.asyncio as aioredis
from cli_checks import Aiwf

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.groups import ensure_group
from aiwf.bus.server import free_port
from aiwf.bus.testing import wait_until
from tests.events import ItemCreated
from tests.test_retention_reads import read_and_ack
from tests.worker_support import get_health, item_service, new_worker, running_worker

STREAM = keys.stream("testing")
BACKLOG = f"{STREAM}: backlog of 10+ unacknowledged entries is past its bound 3"
RECREATED = f"group 'alarmed' on '{STREAM}' vanished and was recreated (1x)"


async def cli_json(aiwf: Aiwf, *args: str) -> Any:
    """`aiwf ARGS --json` in a thread (the worker keeps running), parsed."""
    result = await asyncio.to_thread(aiwf, *args, "--json")
    assert result.returncode in {0, 1}, result.stderr
    return json.loads(result.stdout)


async def stream_row(aiwf: Aiwf) -> dict[str, Any]:
    """The `testing` row of `aiwf streams --json`."""
    rows = await cli_json(aiwf, "streams")
    return next(r for r in rows if r["stream"] == "testing")


async def test_backlog_alarm_and_recreated_group_are_shown_everywhere(
    client: aioredis.Redis, config: BusConfig, aiwf: Aiwf
) -> None:
    """A group that never reads holds 10 entries past a bound of 3 and the worker's group is deleted under it:
    `aiwf streams`, `aiwf health`, the heartbeat and GET /health all name both; the backlog alarm clears once
    the laggard catches up."""
    await ensure_group(client, STREAM, "laggard")
    pub = Publisher(client, config)
    for i in range(10):
        await pub.publish(ItemCreated(title=f"i{i}"))
    port = free_port()
    worker = new_worker(item_service("alarms", "alarmed"), config, port)
    worker.heartbeat.retention_every_s, worker.heartbeat.retention_keep, worker.heartbeat.backlog_alarm_at = 0.1, 1, 3
    async with running_worker(worker):
        await wait_until(lambda: _true(BACKLOG in worker.heartbeat.alarms()), 10, "the backlog alarm")
        await client.xgroup_destroy(STREAM, "alarmed")
        await wait_until(lambda: _true(RECREATED in worker.heartbeat.alarms()), 10, "the recreated group")
        await wait_until(lambda: _has(client, "recreated:alarmed"), 10, "the recreation to be recorded")

        row = await stream_row(aiwf)
        assert (row["backlog_alarm"], row["backlog"], row["backlog_bound"]) == (True, 10, 3)
        assert row["groups_recreated"] == {"alarmed": 1}
        assert row["alarms"] == [BACKLOG, RECREATED]
        table = (await asyncio.to_thread(aiwf, "streams")).stdout
        assert "backlog of 10+" in table
        assert "recreated (1x)" in table

        await wait_until(lambda: _service_alarms(aiwf, {BACKLOG, RECREATED}), 10, "aiwf health to show both")
        health = await get_health(port)
        assert health is not None
        status, body = health
        assert status == 200  # an alarm is news for an operator; restarting the worker would not fix it
        assert (body["alarms"], body["groups_recreated"]) == ([BACKLOG, RECREATED], 1)

        await read_and_ack(client, "laggard", 100, ack=True)
        await wait_until(lambda: _true(BACKLOG not in worker.heartbeat.alarms()), 10, "the backlog alarm to clear")
        row = await stream_row(aiwf)
        assert (row["backlog_alarm"], row["alarms"]) == (False, [RECREATED])


async def test_a_stream_without_alarms_shows_none(client: aioredis.Redis, config: BusConfig, aiwf: Aiwf) -> None:
    """A stream no worker has noticed anything about: no alarms, no backlog."""
    await Publisher(client, config).publish(ItemCreated(title="quiet"))
    row = await stream_row(aiwf)
    assert (row["alarms"], row["backlog_alarm"], row["groups_recreated"]) == ([], False, {})


async def _service_alarms(aiwf: Aiwf, expected: set[str]) -> bool:
    rows = await cli_json(aiwf, "health")
    row = next((r for r in rows if r["service"] == "alarms"), None)
    return row is not None and set(row["alarms"]) == expected and row["groups_recreated"] == 1


async def _has(client: aioredis.Redis, field: str) -> bool:
    return bool(await client.hexists(keys.stream_alarms("testing"), field))


async def _true(value: bool) -> bool:
    return value
