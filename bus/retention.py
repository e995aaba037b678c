"""Retention that never drops an event a group has not acknowledged.

`XADD ... MAXLEN` trims the oldest entries whether or not a group has read them (measured:
10 published, the group got 3, and XINFO reported lag 0). Here a stream is trimmed with
MINID below the oldest entry that some group still needs: its oldest pending entry, or the
first entry after its last-delivered id. A backlog longer than its bound is not trimmed:
it raises an alarm (a log line and the `backlog` figure in `aiwf streams`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

from aiwf.bus import keys
from aiwf.bus.codec import entry_order, text
from aiwf.bus.connection import Redis

log = logging.getLogger("aiwf.retention")
#: Entries at or below this count are always kept, read or not: enough for `aiwf tail` and debugging.
DEFAULT_KEEP = 10_000
#: A group further behind than this is an alarm.
DEFAULT_BACKLOG_ALARM = 100_000


@dataclass(frozen=True)
class TrimReport:
    """What one retention pass did to one stream."""

    stream: str
    trimmed: int
    safe_min_id: str | None
    backlog: int
    alarm: bool


async def safe_min_id(client: Redis, stream: str) -> str | None:
    """The lowest id any group still needs; None when a stream has no group (keep everything)."""
    groups = await client.xinfo_groups(stream)
    if not groups:
        return None
    floors = []
    for group in groups:
        if group["pending"]:
            summary = await client.xpending(stream, group["name"])
            floors.append(text(summary["min"]))
        else:
            ms, seq = text(group["last-delivered-id"]).split("-")
            floors.append(f"{ms}-{int(seq) + 1}")
    return min(floors, key=entry_order)


async def trim(
    client: Redis, stream: str, keep: int = DEFAULT_KEEP, alarm_at: int = DEFAULT_BACKLOG_ALARM
) -> TrimReport:
    """Trim entries every group has acknowledged, keeping at least the newest `keep` entries."""
    if keys.never_trimmed(keys.domain_of_key(stream)):
        return TrimReport(stream, 0, None, 0, alarm=False)
    floor = await safe_min_id(client, stream)
    length = await client.xlen(stream)
    if floor is None or length <= keep:
        return TrimReport(stream, 0, floor, 0, alarm=False)
    # Never cut into the newest `keep` entries either: take the lower of the two bounds.
    kept_from = cast("list[tuple[bytes, object]]", await client.xrevrange(stream, count=keep))
    bound = min(floor, text(kept_from[-1][0]), key=entry_order)
    trimmed = int(await client.xtrim(stream, minid=bound, approximate=False))
    # When the floor is the bound, everything left is unacknowledged by some group.
    backlog = int(await client.xlen(stream)) if bound == floor else 0
    alarm = backlog > alarm_at
    if alarm:
        log.error("%s: backlog of %d+ unacknowledged entries is past its bound %d", stream, backlog, alarm_at)
    return TrimReport(stream, trimmed, floor, backlog, alarm)
