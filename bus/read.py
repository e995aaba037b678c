"""Read: what a consumer takes next — due retries, then orphans of dead consumers, then new entries.

    retries   entries of ours that failed, claimed again (XCLAIM) once their backoff is due
    orphans   entries idle past `reclaim_idle_s` in anyone's name (XAUTOCLAIM), in pages until none
              is left, checked every `lease_renew_s`
    new       XREADGROUP >, blocking at most READ_BLOCK_MS (or until the next retry is due)

While the subscription is paused only a probe is read: one due retry, taken in turn so that a
single failing event is never the only one probed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Any, cast

from aiwf.bus import codec
from aiwf.bus.connection import Redis
from aiwf.bus.handler import Subscription
from aiwf.bus.reclaim import Delivery, autoclaim, claim_due

log = logging.getLogger("aiwf.read")
ReadReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]
"""XREADGROUP's RESP2 reply: [(stream, [(entry id, fields)])]."""
#: How long one XREADGROUP blocks: also the longest a stop or a deleted group goes unnoticed.
READ_BLOCK_MS = 500


class Reader:
    """Takes entries for one consumer of one subscription, and keeps its retry schedule."""

    def __init__(self, client: Redis, stream: str, sub: Subscription, consumer: str) -> None:
        self.client, self.stream, self.sub, self.consumer = client, stream, sub, consumer
        #: entry id -> (when it is due, deliveries so far)
        self.retry_at: dict[str, tuple[float, int]] = {}
        self._cursor = "0-0"
        self._next_reclaim = 0.0
        self._probed: dict[str, int] = {}
        self.reclaimed = 0
        self._reply_lost = False

    def schedule(self, entry_id: str, delay_s: float, deliveries: int) -> None:
        """Deliver `entry_id` again after `delay_s` (it stays pending in our name meanwhile)."""
        self.retry_at[entry_id] = (time.monotonic() + delay_s, deliveries)

    def reply_lost(self) -> None:
        """A read failed after it may have reached Redis: entries may be pending in our name unseen."""
        self._reply_lost = True

    def forget(self) -> None:
        """Drop the schedule (the group was recreated: nothing is ours any more)."""
        self.retry_at.clear()
        self._probed.clear()

    def drop(self, entry_ids: list[str]) -> None:
        """Take entries off the schedule (they were handed back: no longer ours)."""
        for eid in entry_ids:
            self.retry_at.pop(eid, None)
            self._probed.pop(eid, None)

    def retry_due(self) -> bool:
        """True when one of our entries is due for its retry."""
        now = time.monotonic()
        return any(at <= now for at, _ in self.retry_at.values())

    async def retries(self, count: int, owned: Collection[str]) -> list[Delivery]:
        """Up to `count` of our entries whose retry is due, the longest-waiting first."""
        now = time.monotonic()
        due = sorted((at, eid) for eid, (at, _) in self.retry_at.items() if at <= now)[:count]
        return await self._claim({eid: self.retry_at[eid][1] for _, eid in due}, owned) if due else []

    async def read(self, count: int, owned: Collection[str]) -> list[Delivery]:
        """Up to `count` entries: due retries first, then orphans, then new ones."""
        due = await self.retries(count, owned)
        if due:
            return due
        if self._reply_lost:
            self._reply_lost = False
            unseen = await self._unseen(count, owned)
            if unseen:
                return unseen
        now = time.monotonic()
        if now >= self._next_reclaim:
            orphans = await self._orphans(count, owned)
            if orphans:
                return orphans
        return await self._new(count, now)

    async def probe(self, owned: Collection[str]) -> list[Delivery]:
        """One due retry, the least probed first, for a paused subscription."""
        now = time.monotonic()
        due = [eid for eid, (at, _) in self.retry_at.items() if at <= now]
        if not due:
            return []
        eid = min(due, key=lambda e: (self._probed.get(e, 0), self.retry_at[e][0]))
        self._probed[eid] = self._probed.get(eid, 0) + 1
        return await self._claim({eid: self.retry_at[eid][1]}, owned)

    async def _claim(self, due: dict[str, int], owned: Collection[str]) -> list[Delivery]:
        claimed = await claim_due(self.client, self.stream, self.sub.group, self.consumer, 0, due)
        for eid in due:  # only now: if the claim failed they stay scheduled, never stranded
            del self.retry_at[eid]
            if eid not in owned:
                self._probed.pop(eid, None)
        return claimed

    async def _unseen(self, count: int, owned: Collection[str]) -> list[Delivery]:
        """Entries pending in our name we never got (a lost XREADGROUP reply: a frozen process, a timeout):
        taken now instead of after `reclaim_idle_s`."""
        pending = cast(
            "list[dict[str, Any]]",
            await self.client.xpending_range(
                self.stream, self.sub.group, "-", "+", max(count, 100), consumername=self.consumer
            ),
        )
        due = {
            codec.text(p["message_id"]): int(p["times_delivered"])
            for p in pending
            if codec.text(p["message_id"]) not in owned and codec.text(p["message_id"]) not in self.retry_at
        }
        return await claim_due(self.client, self.stream, self.sub.group, self.consumer, 0, due) if due else []

    async def _orphans(self, count: int, owned: Collection[str]) -> list[Delivery]:
        min_idle_ms = int(self.sub.retry.reclaim_idle * 1000)
        cursor, claimed, deleted = await autoclaim(
            self.client, self.stream, self.sub.group, self.consumer, min_idle_ms, self._cursor, count
        )
        self._cursor = cursor
        # A full page may have more behind it: page again on the next read. A finished scan
        # (cursor back at 0-0) waits for the next lease period.
        if cursor == "0-0":
            self._next_reclaim = time.monotonic() + self.sub.retry.lease_renew_s
        for eid in deleted:
            log.warning("%s: pending entry %s was trimmed before it was processed", self.sub.group, eid)
        fresh = [d for d in claimed if d.entry_id not in owned and d.entry_id not in self.retry_at]
        self.reclaimed += len(fresh)
        return fresh

    async def _new(self, count: int, now: float) -> list[Delivery]:
        block = READ_BLOCK_MS
        if self.retry_at:
            soonest = min(at for at, _ in self.retry_at.values())
            block = max(1, min(block, int((soonest - now) * 1000)))
        reply = cast(
            "ReadReply",
            await self.client.xreadgroup(self.sub.group, self.consumer, {self.stream: ">"}, count=count, block=block),
        )
        if not reply:
            return []
        return [Delivery(codec.text(eid), fields, 1) for eid, fields in reply[0][1]]
