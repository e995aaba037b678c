"""The relay (Redis Cluster only): outbox entries moved to their destination streams, each once, in order.

On a Cluster the commit writes outputs bound for another slot into the source stream's outbox
(`aiwf:outbox:{domain}`), atomically with marker and ack (bus/commit.py). A relay runs inside
every consumer (its own stream's outbox, woken by each commit that wrote there) and inside every
worker (a sweep of every outbox named in the `aiwf:outboxes` set, for the event store's and for
those nobody consumes any more; a set, not a SCAN, which would walk every marker key). Consumers
and the event store add their outbox to the set before they first write to it. One pass over an
outbox:

    lease    SET NX PX on `aiwf:relay:lease:{domain}` (or extend ours): one relay at a time per
             outbox, so entries leave it in commit order
    page     XRANGE the oldest PAGE entries
    move     per run of entries bound for one stream: one relay.lua call on that stream's slot,
             XADD unless the event id's relay marker exists there, then set the marker
    ack      XDEL the page from the outbox

A relay killed between move and ack leaves the page in the outbox: the next pass moves it
again and the markers skip what had landed, so nothing is lost or doubled. A relay that stalls
past its lease (LEASE_MS) may overlap the next holder: then two runs can interleave (order), never
double (markers). The markers live `AIWF_MARKER_TTL` in the destination's slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from aiwf.bus import codec, keys, markers
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.scripts import Call, Script

log = logging.getLogger("aiwf.relay")
#: Outbox entries per pass step (one XRANGE, one script call per destination run, one XDEL).
PAGE = 200
#: How long a relay holds an outbox without renewing; a dead relay's outbox waits this long at most.
LEASE_MS = 5000
#: An idle relay looks at its outboxes this often even without a commit waking it.
POLL_S = 0.2
#: A worker's sweep re-reads the set of outboxes this often.
SWEEP_EVERY_S = 10.0
_TO = b"to"
Entries = list[tuple[bytes, dict[bytes, bytes]]]
"""XRANGE's reply: [(entry id, fields)]."""


@dataclass
class RelayStats:
    """What a relay has done."""

    moved: int = 0
    #: Entries found already at their destination (a relay died between move and ack).
    skipped: int = 0
    passes: int = 0
    last_error: str = ""


@dataclass
class Relay:
    """Moves outbox entries for a set of outboxes (and, with `sweep`, every outbox it finds)."""

    client: Redis
    config: BusConfig
    outboxes: set[str] = field(default_factory=set)
    sweep: bool = False
    name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(2)}")
    stats: RelayStats = field(default_factory=RelayStats)

    def __post_init__(self) -> None:
        self._move = Script(self.client, "relay")
        self._lease = Script(self.client, "lease")
        self._wake = asyncio.Event()
        self._next_sweep = 0.0
        self._registered: set[str] = set()

    def watch(self, domain: str) -> None:
        """Relay `domain`'s outbox from now on."""
        self.outboxes.add(keys.outbox(domain))

    def poke(self) -> None:
        """A commit wrote into an outbox: pass now instead of at the next poll."""
        self._wake.set()

    async def register(self, outbox: str) -> None:
        """Name `outbox` in the set every worker's sweep walks (once per relay; before its first entry)."""
        if outbox not in self._registered:
            await self.client.sadd(keys.OUTBOXES, outbox)
            self._registered.add(outbox)

    async def run(self) -> None:
        """Pass over the outboxes until cancelled; Redis errors are logged and the pass is tried again."""
        while True:
            self._wake.clear()  # a commit poking during the pass below makes the wait return at once
            try:
                for outbox in self.outboxes - self._registered:
                    await self.register(outbox)
                if self.sweep and time.monotonic() >= self._next_sweep:
                    self.outboxes |= await outbox_keys(self.client)
                    self._next_sweep = time.monotonic() + SWEEP_EVERY_S
                moved = 0
                for outbox in sorted(self.outboxes):
                    moved += await self.drain(outbox)
                if moved:
                    continue  # more may have come meanwhile
            except Exception as exc:  # noqa: BLE001 - Redis failing (a failover, say) must not end the relay
                self.stats.last_error = f"relay: {exc}"[:300]
                log.warning("relay pass failed, trying again: %s", exc)
                await asyncio.sleep(0.5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_S)

    async def drain(self, outbox: str) -> int:
        """Move everything in `outbox` now (0 when another relay holds it); how many entries left it."""
        domain = keys.outbox_domain(outbox)
        if domain is None:
            raise ValueError(f"{outbox!r} is not an outbox key")
        left = 0
        self.stats.passes += 1
        while True:
            page = cast("Entries", await self.client.xrange(outbox, count=PAGE))
            if not page:
                return left
            if not await self._lease(Call([keys.relay_lease(domain)], [self.name, str(LEASE_MS)])):
                return left
            for to, run in _runs(page):
                moved = int(await self._move(self._call(to, run)))
                self.stats.moved += moved
                self.stats.skipped += len(run) - moved
            await self.client.xdel(outbox, *[entry_id for entry_id, _ in page])
            left += len(page)

    def _call(self, to: bytes, run: list[dict[bytes, bytes]]) -> Call:
        stream = to.decode()
        domain = keys.stream_domain(stream) or stream
        marker_keys: list[str] = []
        args: list[str | bytes] = [str(self.config.marker_ttl_s)]
        for fields in run:
            mark = markers.marker(domain, keys.RELAY_GROUP, codec.text(fields[b"id"]))
            marker_keys.append(mark.key)
            body = [v for name, value in fields.items() if name != _TO for v in (name, value)]
            args += [mark.field, str(len(body) // 2), *body]
        return Call([stream, *marker_keys], args)


def _runs(page: Entries) -> Iterable[tuple[bytes, list[dict[bytes, bytes]]]]:
    """Consecutive entries bound for one stream, in outbox order (entries without `to` are dropped)."""
    run: list[dict[bytes, bytes]] = []
    to = b""
    for _, fields in page:
        dest = fields.get(_TO)
        if dest is None:
            log.warning("outbox entry without a destination skipped: %s", fields.get(b"id"))
            continue
        if run and dest != to:
            yield to, run
            run = []
        to = dest
        run.append(fields)
    if run:
        yield to, run


async def outbox_keys(client: Redis) -> set[str]:
    """Every outbox named in the `aiwf:outboxes` set."""
    members = cast("set[bytes]", await client.smembers(keys.OUTBOXES))
    return {codec.text(k) for k in members if keys.outbox_domain(codec.text(k)) is not None}
