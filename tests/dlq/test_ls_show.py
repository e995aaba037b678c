"""`aiwf dlq ls` and `aiwf dlq show` on real dead letters from two streams."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from dlq_world import Cli, World, dead_ids, run_cli

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.dlq import letters
from aiwf.dlq.filters import Filter


async def test_ls_lists_exactly_the_dead_letters_newest_first(world: World, client: aioredis.Redis, cli: Cli) -> None:
    """`ls --json` shows the three letters of both streams, newest first, with their diagnosis."""
    result = await run_cli(cli, "dlq", "ls", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    expected = await dead_ids(client, "testing") + await dead_ids(client, "testdlq")
    assert sorted(r["id"] for r in rows) == sorted(expected)
    times = [tuple(int(p) for p in r["id"].split("/")[1].split("-")) for r in rows]
    assert times == sorted(times, reverse=True)
    by_type = {r["type"]: r for r in rows}
    assert by_type["testdlq.thing.happened"]["error_type"] == "ValueError"
    assert by_type["testdlq.thing.happened"]["group"] == "things"
    assert by_type["testing.item.created"]["error_type"] == "PermanentError"
    assert all(r["deliveries"] == 1 for r in rows)


async def test_ls_filters_select_exactly_their_letters(world: World, cli: Cli) -> None:
    """--stream, --type, --error, --group, --since and --limit each narrow the list as stated."""

    async def ids(*options: str) -> list[str]:
        result = await run_cli(cli, "dlq", "ls", "--json", *options)
        assert result.exit_code == 0, result.output
        return [r["type"] for r in json.loads(result.stdout)]

    assert await ids("--stream", "testdlq") == ["testdlq.thing.happened"]
    assert await ids("--stream", "aiwf:ev:{testing}") == ["testing.item.created"] * 2
    assert await ids("--type", "testing.*") == ["testing.item.created"] * 2
    assert await ids("--error", "NOT READY") == ["testdlq.thing.happened"]
    assert await ids("--group", "counter") == ["testing.item.created"] * 2
    assert len(await ids("--since", "1h")) == 3
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await ids("--since", future) == []
    assert len(await ids("--limit", "1")) == 1


async def test_ls_stats_counts_by_stream_type_error_and_group(world: World, cli: Cli) -> None:
    """`ls --stats --json` counts every matching letter per stream, type, error type and group."""
    result = await run_cli(cli, "dlq", "ls", "--stats", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "total": 3,
        "by_stream": {"testing": 2, "testdlq": 1},
        "by_type": {"testing.item.created": 2, "testdlq.thing.happened": 1},
        "by_error": {"PermanentError": 2, "ValueError": 1},
        "by_group": {"counter": 2, "things": 1},
    }
    table = await run_cli(cli, "dlq", "ls", "--stats")
    assert table.exit_code == 0
    assert "PermanentError" in table.stdout
    assert "3 dead letters" in table.stdout


async def test_scan_and_stats_work_without_the_cli(world: World, client: aioredis.Redis) -> None:
    """The library functions give the same selection as the CLI: oldest first when asked."""
    found = await letters.scan(client, Filter(domain="testing"), newest_first=False)
    assert [lt.ref for lt in found] == await dead_ids(client, "testing")
    assert letters.stats(found)["by_error"] == {"PermanentError": 2}
    assert await letters.domains(client) == ["testdlq", "testing"]


async def test_show_gives_everything_with_secrets_masked(world: World, client: aioredis.Redis, cli: Cli) -> None:
    """`show --json` has the envelope, the payload with sealed text as ***, the error and traceback, deliveries."""
    (ref,) = await dead_ids(client, "testdlq")
    result = await run_cli(cli, "dlq", "show", ref, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["payload"] == {"name": "thing-0", "secret": "***"}
    assert "sealed:v1:" not in result.stdout
    assert doc["envelope"]["type"] == "testdlq.thing.happened"
    assert doc["envelope"]["id"] == doc["event_id"]
    assert doc["error"] == "thing thing-0 is not ready"
    assert "ValueError: thing thing-0 is not ready" in doc["traceback"]
    assert doc["deliveries"] == 1
    assert doc["group"] == "things"
    assert doc["consumer"]
    assert doc["times_replayed"] == 0
    table = await run_cli(cli, "dlq", "show", ref)
    assert table.exit_code == 0
    assert doc["event_id"] in table.stdout
    assert "***" in table.stdout
    assert "sealed:v1:" not in table.stdout


async def test_show_explains_a_malformed_body(client: aioredis.Redis, config: BusConfig, cli: Cli) -> None:
    """A letter whose event is not JSON is still shown, with the parse error and its raw body."""
    await client.xadd(keys.stream("testing"), {"id": "x-1", "type": "testing.item.created", "body": b"{not json"})
    await World().process(client, config)
    (ref,) = await dead_ids(client, "testing")
    doc = json.loads((await run_cli(cli, "dlq", "show", ref, "--json")).stdout)
    assert doc["payload"] is None
    assert "not valid JSON" in doc["body_error"]
    assert doc["raw_body"] == "{not json"
