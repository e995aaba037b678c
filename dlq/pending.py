"""One group's pending entries, and their forced reclaim: `aiwf pending` and `aiwf reclaim`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from redis.exceptions import ResponseError

from aiwf.bus import codec
from aiwf.bus.connection import Redis
from aiwf.dlq.inspect import Info, missing_group, require_stream


@dataclass(frozen=True)
class PendingEntry:
    """One entry delivered to a group and not acknowledged yet."""

    entry_id: str
    consumer: str
    idle_ms: int
    deliveries: int
    event_id: str
    event_type: str

    def as_json(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {
            "entry_id": self.entry_id,
            "consumer": self.consumer,
            "idle_ms": self.idle_ms,
            "deliveries": self.deliveries,
            "event_id": self.event_id,
            "type": self.event_type,
        }


async def pending(client: Redis, key: str, group: str, limit: int = 100) -> tuple[int, list[PendingEntry]]:
    """A group's pending total and its oldest `limit` pending entries with their event id and type."""
    await require_stream(client, key)
    try:
        summary: Info = await client.xpending(key, group)
        rows = cast("list[Info]", await client.xpending_range(key, group, min="-", max="+", count=limit))
    except ResponseError as exc:
        raise await missing_group(client, key, group, exc) from None
    pipe = client.pipeline(transaction=False)
    for row in rows:
        entry_id = codec.text(row["message_id"])
        pipe.xrange(key, min=entry_id, max=entry_id, count=1)
    entries = cast("list[list[tuple[bytes, dict[bytes, bytes]]]]", await pipe.execute())
    found = []
    for row, entry in zip(rows, entries, strict=True):
        fields = entry[0][1] if entry else {}
        found.append(
            PendingEntry(
                entry_id=codec.text(row["message_id"]),
                consumer=codec.text(row["consumer"]),
                idle_ms=int(row["time_since_delivered"]),
                deliveries=int(row["times_delivered"]),
                event_id=fields.get(codec.FIELD_ID.encode(), b"").decode(errors="replace") if entry else "(trimmed)",
                event_type=fields.get(codec.FIELD_TYPE.encode(), b"").decode(errors="replace"),
            )
        )
    return int(summary["pending"]), found


async def reclaim(
    client: Redis, key: str, group: str, consumer: str, min_idle_ms: int, limit: int = 1000
) -> list[PendingEntry]:
    """Claim up to `limit` pending entries idle at least `min_idle_ms` to `consumer`; returns them as they were.

    The claim is JUSTID: it counts no delivery. The group's workers pick the entries up from
    `consumer` once they have been idle for their reclaim time (RetryPolicy.reclaim_idle_s),
    so naming a consumer no worker runs is the way to park entries for inspection.
    """
    await require_stream(client, key)
    try:
        rows = cast(
            "list[Info]",
            await client.xpending_range(key, group, min="-", max="+", count=limit, idle=min_idle_ms),
        )
        wanted = [r for r in rows if codec.text(r["consumer"]) != consumer]
        if not wanted:
            return []
        ids: list[str | bytes | int | memoryview] = [codec.text(r["message_id"]) for r in wanted]
        reply = cast("list[bytes]", await client.xclaim(key, group, consumer, min_idle_ms, ids, justid=True))
        claimed = {codec.text(e) for e in reply}
    except ResponseError as exc:
        raise await missing_group(client, key, group, exc) from None
    return [
        PendingEntry(
            entry_id=codec.text(r["message_id"]),
            consumer=codec.text(r["consumer"]),
            idle_ms=int(r["time_since_delivered"]),
            deliveries=int(r["times_delivered"]),
            event_id="",
            event_type="",
        )
        for r in wanted
        if codec.text(r["message_id"]) in claimed
    ]
