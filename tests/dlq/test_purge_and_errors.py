"""`aiwf dlq purge`, and every command's error paths: exit codes and one line on stderr."""

from __future__ import annotations

import json
from typing import cast

import orjson
import pytest
import redis.asyncio as aioredis
from dlq_world import Cli, World, dead_ids, run_cli

from aiwf.bus import keys
from aiwf.bus.groups import ensure_group
from aiwf.bus.server import free_port
from tests.replies import Entries


async def test_purge_removes_only_what_its_filters_select(world: World, client: aioredis.Redis, cli: Cli) -> None:
    """`purge --stream testdlq --yes` deletes that stream's letter, keeps the others, and is audited."""
    kept = await dead_ids(client, "testing")
    result = await run_cli(cli, "dlq", "purge", "--stream", "testdlq", "--yes", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["purged"], doc["selected"]) == (1, 1)
    assert await dead_ids(client, "testdlq") == []
    assert await dead_ids(client, "testing") == kept
    ((_, audit),) = cast("Entries", await client.xrange(keys.AUDIT))
    assert (audit[b"action"], audit[b"count"], audit[b"user"]) == (b"dlq.purge", b"1", b"tester")
    assert [lt["id"] for lt in orjson.loads(audit[b"letters"])] == doc["ids"]


async def test_purge_by_id_and_by_age(world: World, client: aioredis.Redis, cli: Cli) -> None:
    """An id purges one letter; `--older-than 1h` selects none of the fresh ones."""
    first, second = await dead_ids(client, "testing")
    result = await run_cli(cli, "dlq", "purge", "--older-than", "1h", "--yes", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["selected"] == 0
    result = await run_cli(cli, "dlq", "purge", first, "--yes")
    assert result.exit_code == 0
    assert "purged 1 of 1" in result.stdout
    assert await dead_ids(client, "testing") == [second]


async def test_purge_dry_run_and_missing_yes_change_nothing(world: World, client: aioredis.Redis, cli: Cli) -> None:
    """`--dry-run` lists what would go; without --yes and without a terminal, purge refuses."""
    before = await dead_ids(client, "testing") + await dead_ids(client, "testdlq")
    result = await run_cli(cli, "dlq", "purge", "--all", "--dry-run", "--json")
    assert result.exit_code == 0
    assert sorted(json.loads(result.stdout)["ids"]) == sorted(before)
    result = await run_cli(cli, "dlq", "purge", "--all")
    assert result.exit_code == 1
    assert result.stderr == (
        "aiwf: about to delete 3 dead letters for good: confirm with --yes (no terminal to ask on)\n"
    )
    assert await dead_ids(client, "testing") + await dead_ids(client, "testdlq") == before
    assert await client.xlen(keys.AUDIT) == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["dlq", "ls", "--since", "garbage"], 2, "aiwf: bad --since 'garbage': use a duration like 30m"),
        (["dlq", "ls", "--stream", "Bad Name"], 2, "aiwf: bad stream 'Bad Name'"),
        (["dlq", "ls", "--limit", "0"], 2, "aiwf: bad --limit 0: must be 1..100000"),
        (["dlq", "show", "nonsense"], 2, "aiwf: bad dead-letter id 'nonsense': expected DOMAIN/ENTRY-ID"),
        (["dlq", "show", "testing/1-0"], 1, "aiwf: no dead letter testing/1-0 (it may have been replayed or purged"),
        (["dlq", "replay"], 2, "aiwf: say which letters: give ids, filters"),
        (["dlq", "replay", "testing/1-0", "--all"], 2, "aiwf: give dead-letter ids, or filters / --all, not both"),
        (["dlq", "replay", "--all", "--rate", "fast"], 2, "aiwf: bad --rate 'fast'"),
        (["dlq", "replay", "testing/1-0"], 1, "aiwf: no dead letter testing/1-0"),
        (["dlq", "purge"], 2, "aiwf: say which letters"),
        (["dlq", "purge", "testing/1-0", "--yes"], 1, "aiwf: no dead letter testing/1-0"),
        (["dlq", "purge", "--older-than", "old"], 2, "aiwf: bad --older-than 'old'"),
        (["groups", "nowhere"], 1, "aiwf: no stream 'aiwf:ev:{nowhere}' (no such key)"),
        (["pending", "testing", "ghosts"], 1, "aiwf: no group 'ghosts' on aiwf:ev:{testing}; its groups: counter"),
        (["reclaim", "testing", "ghosts", "--min-idle-ms", "0"], 1, "aiwf: no group 'ghosts'"),
    ],
)
async def test_errors_exit_non_zero_with_one_line(
    client: aioredis.Redis, cli: Cli, args: list[str], code: int, message: str
) -> None:
    """Bad filters and ids exit 2, unknown letters, streams and groups exit 1: one `aiwf:` line, no traceback."""
    await ensure_group(client, keys.stream("testing"), "counter")
    result = await run_cli(cli, *args)
    assert result.exit_code == code, result.output
    assert result.stderr.startswith(message), result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_redis_unreachable_is_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """With REDIS_URL on a closed port every command exits 1 with one line naming the problem."""
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    for args in (["dlq", "ls"], ["dlq", "show", "testing/1-0"], ["dlq", "replay", "--all", "--yes"], ["streams"]):
        result = cli(*args)
        assert result.exit_code == 1, result.output
        assert result.stderr.startswith("aiwf: Redis at redis://127.0.0.1:"), result.stderr
        assert "unreachable" in result.stderr
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.output


async def test_replay_of_a_purged_id_names_it_and_changes_nothing(
    world: World, client: aioredis.Redis, cli: Cli
) -> None:
    """Replaying a known id together with an unknown one replays nothing and names the unknown one."""
    (ref,) = await dead_ids(client, "testdlq")
    result = await run_cli(cli, "dlq", "replay", ref, "testdlq/1-0", "--yes")
    assert result.exit_code == 1
    assert result.stderr.startswith("aiwf: no dead letter testdlq/1-0")
    assert await dead_ids(client, "testdlq") == [ref]
    assert await client.xlen(keys.stream("testdlq")) == 1
