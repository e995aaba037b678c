"""`aiwf dlq replay`: each letter back once, with its original event id, never doubling an effect."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, cast

import orjson
import pytest
import redis.asyncio as aioredis
from dlq_world import Cli, World, dead_ids, outputs, poison, run_cli, sigkilled_replay

from aiwf.bus import Context, Publisher, Subscription, keys, markers
from aiwf.bus import keys as dlq_keys
from aiwf.bus.config import BusConfig
from aiwf.bus.groups import ensure_group
from aiwf.cli import replay as replay_cli
from aiwf.cli import support as cli_support
from aiwf.dlq import letters
from aiwf.dlq.filters import Filter
from aiwf.dlq.replay import Replayer, Status
from aiwf.schemas import Event
from tests.contract.harness import drain, running
from tests.events import ItemCreated, ItemCreatedV1
from tests.replies import Entries


async def replay_json(cli: Cli, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run `dlq replay ... --json`: (exit code, parsed stdout, stderr)."""
    result = await run_cli(cli, "dlq", "replay", *args, "--json")
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}, result.stderr


async def effects(client: aioredis.Redis) -> Counter[str]:
    """How many output events exist per input name, across both streams."""
    counted = await outputs(client, "testing", "testing.item.counted")
    noted = await outputs(client, "testdlq", "testdlq.thing.noted")
    return Counter([str(o["payload"]["source_title"]) for o in counted] + [str(o["payload"]["name"]) for o in noted])


async def test_replay_after_fix_processes_each_letter_once(
    world: World, client: aioredis.Redis, config: BusConfig, cli: Cli
) -> None:
    """After the handlers are fixed, `replay --all` empties the DLQ and each event runs once with one output."""
    world.fixed = True
    code, doc, stderr = await replay_json(cli, "--all", "--yes")
    assert code == 0, stderr
    assert doc["replayed"] == 3
    assert {r["status"] for r in doc["results"]} == {"replayed"}
    assert await client.xlen(keys.dead_letters("testing")) == 0
    assert await client.xlen(keys.dead_letters("testdlq")) == 0
    await world.process(client, config)
    assert world.calls == Counter({"item-0": 1, "item-1": 1, "thing-0": 1})
    assert await effects(client) == Counter({"item-0": 1, "item-1": 1, "thing-0": 1})
    ((_, entry),) = cast("Entries", await client.xrange(dlq_keys.AUDIT))
    assert entry[b"action"] == b"dlq.replay"
    assert entry[b"user"] == b"tester"
    assert entry[b"count"] == b"3"
    assert len(orjson.loads(entry[b"letters"])) == 3


async def test_replaying_twice_does_not_double_any_effect(
    world: World, client: aioredis.Redis, config: BusConfig, cli: Cli
) -> None:
    """A second replay of the same letter is reported as done, and a second copy of it is absorbed by the marker."""
    ref = (await dead_ids(client, "testing"))[0]
    letter = await letters.get(client, ref)
    world.fixed = True
    assert (await replay_json(cli, ref))[0] == 0
    await world.process(client, config)
    code, doc, _ = await replay_json(cli, ref)  # e.g. the operator re-runs after a lost reply
    assert code == 0
    (again,) = doc["results"]
    assert again["status"] == "already-replayed"
    assert again["stream_id"]
    await client.xadd(keys.dead_letters("testing"), letter.fields)  # type: ignore[arg-type]  # redis-py: invariant dict; the same letter dead-lettered twice
    copy = (await dead_ids(client, "testing"))[-1]  # the newest: the copy
    code, doc, _ = await replay_json(cli, copy)
    assert code == 0
    await world.process(client, config)
    assert world.calls["item-0"] == 1
    assert (await effects(client))["item-0"] == 1


async def test_interrupted_replay_rerun_replays_the_rest_exactly_once(
    client: aioredis.Redis, config: BusConfig, cli: Cli
) -> None:
    """A replay that dies after 3 of 8 letters, run again, leaves every event processed once and the DLQ empty."""
    world = await poison(client, config, items=6, things=2)
    world.fixed = True
    chosen = await letters.scan(client, Filter(), newest_first=False)
    done: list[str] = []

    def crash_after_three(result: object) -> None:
        done.append(str(result))
        if len(done) == 3:
            raise KeyboardInterrupt  # what Ctrl-C raises in the middle of the loop

    with pytest.raises(KeyboardInterrupt):
        await Replayer(client, config).run(chosen, crash_after_three)
    assert len(await letters.scan(client, Filter())) == 5
    ((_, audit),) = cast("Entries", await client.xrange(dlq_keys.AUDIT))
    assert audit[b"interrupted"] == b"true"
    assert audit[b"count"] == b"3"
    code, doc, stderr = await replay_json(cli, "--all", "--yes")
    assert code == 0, stderr
    assert doc["replayed"] == 5
    await world.process(client, config)
    assert world.calls == Counter({f"item-{i}": 1 for i in range(6)} | {f"thing-{i}": 1 for i in range(2)})
    assert await letters.scan(client, Filter()) == []
    assert sum((await effects(client)).values()) == 8


@pytest.mark.slow
async def test_replay_killed_mid_way_and_rerun_loses_and_duplicates_nothing(
    client: aioredis.Redis, config: BusConfig, redis_url: str, cli: Cli
) -> None:
    """`aiwf dlq replay` killed with SIGKILL half-way, then run again, ends with each event processed once."""
    world = await poison(client, config, items=6, things=2)
    world.fixed = True

    async def some_replayed() -> bool:
        remaining = len(await letters.scan(client, Filter()))
        return 2 <= 8 - remaining <= 5

    await sigkilled_replay(redis_url, some_replayed)
    assert 0 < len(await letters.scan(client, Filter())) < 8
    code, _, stderr = await replay_json(cli, "--all", "--yes")
    assert code == 0, stderr
    await world.process(client, config)
    assert await letters.scan(client, Filter()) == []
    assert world.calls == Counter({f"item-{i}": 1 for i in range(6)} | {f"thing-{i}": 1 for i in range(2)})
    assert sum((await effects(client)).values()) == 8


async def test_dry_run_changes_nothing(world: World, client: aioredis.Redis, cli: Cli) -> None:
    """`replay --dry-run` reports what it would do and leaves every key exactly as it was."""

    async def snapshot() -> dict[bytes, bytes | None]:
        return {k: await client.dump(k) for k in sorted(cast("list[bytes]", await client.keys("*")))}

    before = await snapshot()
    code, doc, _ = await replay_json(cli, "--all", "--dry-run")
    assert code == 0
    assert doc["dry_run"] is True
    assert {r["status"] for r in doc["results"]} == {"would-replay"}
    assert await snapshot() == before


async def test_replay_upcasts_to_the_newest_version(client: aioredis.Redis, config: BusConfig, cli: Cli) -> None:
    """A letter of a v1 event goes back as v2 (through the upcaster) with its original event id."""
    event_id = await Publisher(client, config).publish(ItemCreatedV1(name="old"))
    world = World()
    await world.process(client, config)
    world.fixed = True
    code, doc, _ = await replay_json(cli, "--all", "--yes")
    assert code == 0
    (result,) = doc["results"]
    assert "upcast v1->v2" in result["detail"]
    _, fields = cast("Entries", await client.xrevrange(keys.stream("testing"), count=1))[0]
    body = orjson.loads(fields[b"body"])
    assert (body["id"], body["version"], body["payload"]) == (event_id, 2, {"title": "old", "quantity": 1})
    await world.process(client, config)
    assert world.calls == Counter({"old": 1})


async def test_letters_replayed_too_often_are_refused(
    world: World, client: aioredis.Redis, config: BusConfig, cli: Cli
) -> None:
    """A letter whose event was already replayed --max-replays times stays in the DLQ with a clear refusal."""
    assert (await replay_json(cli, "--stream", "testdlq", "--yes"))[0] == 0
    await world.process(client, config)  # still broken: dead-lettered again, same event id
    (ref,) = await dead_ids(client, "testdlq")
    code, doc, stderr = await replay_json(cli, ref, "--max-replays", "1")
    assert code == 1
    (result,) = doc["results"]
    assert result["status"] == "refused"
    assert "already replayed 1 time(s) (--max-replays 1)" in result["detail"]
    assert stderr.strip() == "aiwf: 1 of 1 dead letter not replayed (1 refused); see the table"
    assert await dead_ids(client, "testdlq") == [ref]
    code, doc, _ = await replay_json(cli, ref, "--max-replays", "2")
    assert code == 0


async def test_malformed_letters_are_reported_and_kept(client: aioredis.Redis, config: BusConfig, cli: Cli) -> None:
    """A letter whose body is not JSON cannot be replayed: the run says so for it, exits 1 and keeps it."""
    await client.xadd(keys.stream("testing"), {"id": "x-1", "type": "testing.item.created", "body": b"{not json"})
    await Publisher(client, config).publish(ItemCreated(title="fine"))
    world = World()
    await world.process(client, config)
    world.fixed = True
    code, doc, stderr = await replay_json(cli, "--all", "--yes")
    assert code == 1
    statuses = {r["status"]: r for r in doc["results"]}
    assert "malformed event, cannot be replayed" in statuses["unreplayable"]["detail"]
    assert "replayed" in statuses
    assert stderr.count("\n") == 1
    assert "1 unreplayable" in stderr
    assert len(await dead_ids(client, "testing")) == 1


def audit_sub(calls: Counter[str], group: str = "audit") -> Subscription:
    """A second group on `testing` that always succeeds and counts its runs."""
    sub = Subscription(stream="testing", group=group)

    @sub.handler
    async def note(event: ItemCreated, ctx: Context) -> list[Event]:
        calls[event.title] += 1
        return []

    return sub


async def test_group_replay_reaches_only_that_group(client: aioredis.Redis, config: BusConfig, cli: Cli) -> None:
    """`--group counter` re-runs counter only: a group whose marker expired is not run again (as default mode would)."""
    pub = Publisher(client, config)
    ids = {t: await pub.publish(ItemCreated(title=t)) for t in ("targeted", "broadcast")}
    world, audited = World(), Counter[str]()
    audit = audit_sub(audited)
    async with running(audit, config):
        await world.process(client, config)
        await drain(client, audit)
    for event_id in ids.values():
        mark = markers.marker("testing", "audit", event_id)
        assert await client.hdel(mark.key, mark.field) == 1  # as if the marker TTL had passed
    world.fixed = True
    targeted, broadcast = await dead_ids(client, "testing")
    code, doc, _ = await replay_json(cli, targeted, "--group", "counter")
    assert code == 0
    assert doc["results"][0]["detail"].startswith("to group counter only")
    assert (await replay_json(cli, broadcast))[0] == 0
    async with running(audit, config):
        await world.process(client, config)
        await drain(client, audit)
    assert world.calls == Counter({"targeted": 1, "broadcast": 1})
    assert audited == Counter({"targeted": 1, "broadcast": 2})


async def test_group_replay_leaves_a_lagging_group_alone(client: aioredis.Redis, config: BusConfig, cli: Cli) -> None:
    """A group not yet past the original entry gets no suppression marker and still processes the event once."""
    await Publisher(client, config).publish(ItemCreated(title="late"))
    world = World()
    await world.process(client, config)
    await ensure_group(client, keys.stream("testing"), "late")  # exists, has read nothing yet
    world.fixed = True
    code, doc, stderr = await replay_json(cli, "--group", "counter", "--yes")
    assert code == 0, stderr
    assert doc["replayed"] == 1
    late = Counter[str]()
    sub = audit_sub(late, "late")
    async with running(sub, config):
        await world.process(client, config)
        await drain(client, sub)
    assert world.calls == Counter({"late": 1})
    assert late == Counter({"late": 1})


async def test_group_replay_refuses_other_groups_letters(world: World, client: aioredis.Redis, cli: Cli) -> None:
    """Naming a letter of group `things` with `--group counter` replays nothing and says whose letter it is."""
    (ref,) = await dead_ids(client, "testdlq")
    code, doc, _ = await replay_json(cli, ref, "--group", "counter")
    assert code == 1
    assert "dead-lettered by group 'things', not 'counter'" in doc["results"][0]["detail"]
    assert await dead_ids(client, "testdlq") == [ref]


async def test_large_replay_needs_confirmation(
    client: aioredis.Redis, config: BusConfig, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over 10 letters: refused without a terminal unless --yes; asked at a terminal, where 'n' cancels."""
    world = await poison(client, config, items=11, things=0)
    world.fixed = True
    result = await run_cli(cli, "dlq", "replay", "--all")
    assert result.exit_code == 1
    assert result.stderr == "aiwf: about to replay 11 dead letters: confirm with --yes (no terminal to ask on)\n"
    monkeypatch.setattr(cli_support, "interactive", lambda: True)
    result = await run_cli(cli, "dlq", "replay", "--all", input="n\n")
    assert result.exit_code == 1
    assert "cancelled; nothing changed" in result.stderr
    assert len(await dead_ids(client, "testing")) == 11
    monkeypatch.setattr(replay_cli, "PROGRESS_ABOVE", 0)  # exercise the progress bar too
    result = await run_cli(cli, "dlq", "replay", "--all", input="y\n")
    assert result.exit_code == 0, result.output
    assert "replayed 11 of 11 dead letters" in result.stdout
    assert await dead_ids(client, "testing") == []
    await world.process(client, config)
    assert sum(world.calls.values()) == 11


def test_replay_status_values_are_stable() -> None:
    """The statuses scripts read from --json keep their spelling."""
    assert [s.value for s in Status] == [
        "replayed",
        "would-replay",
        "already-replayed",
        "gone",
        "refused",
        "unreplayable",
    ]
