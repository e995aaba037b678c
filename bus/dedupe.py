"""Dedupe: which entries of a read may repeat an event already committed, and which did.

Only entries that can be repeats are checked, so the common first delivery costs nothing:
a redelivery (deliveries > 1), an entry flagged `redelivery` (a retried publish, a replay),
and, after this group was (re)created at 0, every entry up to the stream's end at that moment.
Their processed-markers are read in one round trip (bus/markers.py); a marker found means
ack only. A failed check is only logged: the commit's own marker check still dedupes.
"""

from __future__ import annotations

import logging
from typing import cast

from aiwf.bus import codec, markers
from aiwf.bus.connection import Redis
from aiwf.bus.reclaim import Delivery

log = logging.getLogger("aiwf.consume")
_REDELIVERY = codec.FIELD_REDELIVERY.encode()
_ID = codec.FIELD_ID.encode()


class Dedupe:
    """The repeat check of one consumer of one subscription."""

    def __init__(self, client: Redis, stream: str, domain: str, group: str) -> None:
        self.client, self.stream, self.domain, self.group = client, stream, domain, group
        self._recreated_upto: tuple[int, int] | None = None

    async def mark_recreated(self) -> None:
        """The group was (re)created at 0: entries up to the stream's end may have been committed."""
        last = cast("list[tuple[bytes, object]]", await self.client.xrevrange(self.stream, count=1))
        if last:
            self._recreated_upto = codec.entry_order(codec.text(last[0][0]))

    async def done(self, batch: list[Delivery]) -> set[bytes]:
        """Event ids (as in the entries) of `batch` whose processed-marker exists."""
        ids = list({d.fields[_ID] for d in batch if self._maybe_seen(d) and d.fields and _ID in d.fields})
        if not ids:
            return set()
        marks = [markers.marker(self.domain, self.group, i.decode()) for i in ids]
        try:
            found = await markers.already_done(self.client, marks)
        except Exception as exc:  # noqa: BLE001 - no answer: run them; the commit's marker check still dedupes
            log.warning("%s: marker check failed (%s); the commit will dedupe", self.group, exc)
            return set()
        return {i for i, seen in zip(ids, found, strict=True) if seen}

    def _maybe_seen(self, d: Delivery) -> bool:
        if d.deliveries > 1 or (d.fields is not None and _REDELIVERY in d.fields):
            return True
        return self._recreated_upto is not None and codec.entry_order(d.entry_id) <= self._recreated_upto
