"""`aiwf pending STREAM GROUP --park ENTRY_ID`: move one pending entry to the dead letters by hand.

For an entry that keeps failing without reaching its delivery cap on its own. The letter is
the bus's own (bus/deadletter.py fields, the original entry kept byte for byte), written with
the group's XACK in the commit script's one atomic step, so `aiwf dlq show` and
`aiwf dlq replay` treat it like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from aiwf.bus import keys
from aiwf.bus.commit import DEAD_LETTERED, CommitBatch, Committer
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.deadletter import entry
from aiwf.bus.errors import PermanentError
from aiwf.bus.outcome import DeadLetter
from aiwf.dlq.errors import DlqError

__all__ = ["Parked", "ParkedByHand", "park"]

#: The consumer name a parked letter names (the entry's last owner is kept in the error text).
PARKER = "aiwf-pending-park"


class ParkedByHand(PermanentError):
    """Raised (recorded, never thrown) when an operator parks a pending entry with `aiwf pending --park`."""


class NotPending(DlqError):
    """Raised when the entry to park is not in the group's pending list."""


@dataclass(frozen=True)
class Parked:
    """What was parked: the entry, its last owner and delivery count, and the letter's stream."""

    entry_id: str
    consumer: str
    deliveries: int
    dead_letters: str

    def as_json(self) -> dict[str, Any]:
        """The JSON form `--json` prints."""
        return {
            "entry": self.entry_id,
            "consumer": self.consumer,
            "deliveries": self.deliveries,
            "dead_letters": self.dead_letters,
        }


async def park(client: Redis, config: BusConfig, key: str, group: str, entry_id: str, reason: str) -> Parked:
    """Dead-letter the pending `entry_id` of `group` on the stream `key` and ack it, atomically."""
    rows = cast("list[dict[str, Any]]", await client.xpending_range(key, group, min=entry_id, max=entry_id, count=1))
    if not rows:
        raise NotPending(f"{entry_id} is not pending for group {group!r} on {key}; see `aiwf pending`")
    owner = bytes(rows[0]["consumer"]).decode(errors="replace")
    deliveries = int(rows[0]["times_delivered"])
    found = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(key, entry_id, entry_id, count=1))
    error = ParkedByHand(f"parked by hand from consumer {owner}: {reason}")
    domain = keys.stream_domain(key)
    if domain is None:
        raise NotPending(f"{key} is not an event stream; nothing of it can be parked")
    batch = CommitBatch(domain, group, config.marker_ttl_s)
    letter = entry(
        DeadLetter(error, ""),
        source=key,
        source_id=entry_id,
        group=group,
        consumer=PARKER,
        deliveries=deliveries,
        original=found[0][1] if found else {},
    )
    batch.dead(entry_id, letter)
    result = await Committer(client, config).commit(batch)
    if result.codes != [DEAD_LETTERED]:
        raise NotPending(f"{entry_id} was not parked: {result.reasons}")
    return Parked(entry_id, owner, deliveries, keys.dead_letters(domain))
