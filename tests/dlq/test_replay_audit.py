"""Replay audits each letter in the same atomic step as the replay itself."""

from __future__ import annotations

from typing import cast

import pytest
import redis.asyncio as aioredis
from dlq_world import poison, sigkilled_replay

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.dlq import letters
from aiwf.dlq.filters import Filter
from aiwf.dlq.replay import Replayer
from tests.replies import Entries

DOMAINS = ("testing", "testdlq")


async def replayed_letters(client: aioredis.Redis) -> set[str]:
    """Refs of every letter a replay script has replayed (its "replayed as" records)."""
    refs: set[str] = set()
    for domain in DOMAINS:
        refs |= {
            f"{domain}/{eid.decode()}" for eid in cast("list[bytes]", await client.hkeys(keys.replayed_as(domain)))
        }
    return refs


async def audited_letters(client: aioredis.Redis) -> dict[str, dict[bytes, bytes]]:
    """Per-letter audit entries by letter ref, across the domains."""
    found: dict[str, dict[bytes, bytes]] = {}
    for domain in DOMAINS:
        for _, fields in cast("Entries", await client.xrange(keys.replay_audit(domain))):
            found[fields[b"letter"].decode()] = fields
    return found


async def test_each_replayed_letter_has_its_audit_entry(client: aioredis.Redis, config: BusConfig) -> None:
    """A finished replay leaves one per-letter entry for each letter, naming its event, new stream id and run."""
    world = await poison(client, config)
    world.fixed = True
    results = await Replayer(client, config).run(await letters.scan(client, Filter()))
    audited = await audited_letters(client)
    assert set(audited) == {r.ref for r in results}
    for result in results:
        entry = audited[result.ref]
        assert entry[b"action"] == b"dlq.replay.letter"
        assert (entry[b"event_id"].decode(), entry[b"stream_id"].decode()) == (result.event_id, result.stream_id)
    ((_, run),) = cast("Entries", await client.xrange(keys.AUDIT))
    assert {e[b"run"] for e in audited.values()} == {run[b"run"]}


@pytest.mark.slow
async def test_a_sigkilled_replay_leaves_an_audit_entry_for_each_letter_it_replayed(
    client: aioredis.Redis, config: BusConfig, redis_url: str
) -> None:
    """`aiwf dlq replay` killed with SIGKILL half-way: every letter it replayed has its audit entry, and no other."""
    world = await poison(client, config, items=6, things=2)
    world.fixed = True

    async def some_replayed() -> bool:
        return 2 <= len(await replayed_letters(client)) <= 5

    await sigkilled_replay(redis_url, some_replayed)
    replayed = await replayed_letters(client)
    assert 0 < len(replayed) < 8
    assert set(await audited_letters(client)) == replayed
    assert await client.xlen(keys.AUDIT) == 0  # the run's own summary never got written
