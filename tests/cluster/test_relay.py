"""The relay: a crash between append and outbox-ack never doubles, a SIGKILLed relay never loses or doubles."""

from __future__ import annotations

import asyncio
import random
import signal
from typing import cast

import orjson
import pytest

from aiwf.bus import keys
from aiwf.bus.commit import Committer
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.relay import LEASE_MS, PAGE, Relay, _runs
from aiwf.bus.scripts import Call
from aiwf.bus.testing import wait_until
from aiwf.schemas import Envelope
from tests.cluster.cluster_events import CountedElsewhere
from tests.cluster.support import OUT, spawn
from tests.replies import Entries


async def fill_outbox(client: Redis, config: BusConfig, n: int) -> list[str]:
    """Commit n outputs bound for `elsewhere` through the commit script (so they wait in `testing`'s outbox)."""
    committer = Committer(client, config)
    ids: list[str] = []
    for start in range(0, n, 500):
        batch = committer.batch("testing", "filler")
        for k in range(start, min(n, start + 500)):
            out = Envelope.wrap(CountedElsewhere(source_title=f"e{k}", n=k), producer="t")
            cause = Envelope.wrap(CountedElsewhere(source_title="cause", n=k), producer="t")
            batch.ok(f"{k + 1}-0", cause.id, [out])
            ids.append(out.id)
        assert batch.outboxed
        await committer.commit(batch)
    return ids


async def relayed_ids(client: Redis) -> list[str]:
    """Event ids on `elsewhere`, in stream order."""
    return [f[b"id"].decode() for _, f in cast("Entries", await client.xrange(keys.stream(OUT)))]


async def test_relay_dying_between_append_and_ack_doubles_nothing(cclient: Redis, cluster_config: BusConfig) -> None:
    """A page appended at its destination but never removed from the outbox is skipped by the next relay."""
    ids = await fill_outbox(cclient, cluster_config, 500)
    relay = Relay(cclient, cluster_config)
    page = cast("Entries", await cclient.xrange(keys.outbox("testing"), count=PAGE))
    for to, run in _runs(page):  # the move of one page, and then the "crash": no XDEL
        await relay._move(relay._call(to, run))
    assert await cclient.xlen(keys.outbox("testing")) == 500
    assert await relay.drain(keys.outbox("testing")) == 500
    assert relay.stats.skipped == PAGE
    assert await relayed_ids(cclient) == ids
    assert await cclient.xlen(keys.outbox("testing")) == 0


async def test_only_the_lease_holder_relays(cclient: Redis, cluster_config: BusConfig) -> None:
    """Two relays on one outbox: the second finds the lease taken and moves nothing; order stays the first's."""
    ids = await fill_outbox(cclient, cluster_config, 10)
    first, second = Relay(cclient, cluster_config), Relay(cclient, cluster_config)
    await first._lease(first_call := _lease_call(first.name))
    assert first_call.keys == [keys.relay_lease("testing")]
    assert await second.drain(keys.outbox("testing")) == 0
    assert await first.drain(keys.outbox("testing")) == 10
    assert await relayed_ids(cclient) == ids


def _lease_call(name: str) -> Call:
    return Call([keys.relay_lease("testing")], [name, str(LEASE_MS)])


@pytest.mark.fault
@pytest.mark.slow
async def test_sigkilled_relays_never_lose_or_double_an_output(cclient: Redis, cluster_config: BusConfig) -> None:
    """20,000 outbox entries, relay processes SIGKILLed mid-move again and again: each output lands once, in order."""
    ids = await fill_outbox(cclient, cluster_config, 20_000)
    url = cluster_config.redis_url or ""
    rng = random.Random(5)
    kills = 0
    while await cclient.xlen(keys.outbox("testing")) > 2000 and kills < 8:
        victim = spawn("relay_process", url, "testing")
        before = await cclient.xlen(keys.stream(OUT))
        await wait_until(lambda b=before: _grew(cclient, b), 30, "the relay to move something")  # type: ignore[misc]
        await asyncio.sleep(rng.uniform(0.0, 0.02))  # mid-pass: a page is ~3 round trips
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        kills += 1
    print(f"\nrelay killed {kills} times; {await cclient.xlen(keys.outbox('testing'))} entries left for the last one")
    assert kills >= 3
    await asyncio.sleep(5.1)  # the dead relay's lease runs out (LEASE_MS)
    relay = Relay(cclient, cluster_config)
    await relay.drain(keys.outbox("testing"))
    got = await relayed_ids(cclient)
    assert len(got) == len(set(got)) == len(ids)
    assert got == ids
    assert await cclient.xlen(keys.outbox("testing")) == 0
    bodies = [orjson.loads(f[b"body"]) for _, f in cast("Entries", await cclient.xrange(keys.stream(OUT), count=3))]
    assert [b["payload"]["source_title"] for b in bodies] == ["e0", "e1", "e2"]


async def _grew(client: Redis, before: int) -> bool:
    return int(await client.xlen(keys.stream(OUT))) > before
