"""Retention that never drops an event a group has not acknowledged.

`XADD ... MAXLEN` trims the oldest entries whether or not a group has read them (measured:
10 published, the group got 3, and XINFO reported lag 0). Here a stream is trimmed with
MINID below the oldest entry that some group still needs: its oldest pending entry, or the
first entry after its last-delivered id. A backlog longer than its bound is not trimmed:
it raises an alarm: a log line, and (bus/alarms.py) `aiwf streams`, `aiwf health` and GET /health.

A pass reads ids and counts only, never entry bodies: with 1 MB events, pulling the newest
10 000 entries to find a bound would cost the worker gigabytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import cast

from aiwf.bus import keys
from aiwf.bus.codec import entry_order, text
from aiwf.bus.connection import Redis
from aiwf.bus.scripts import Call, Script

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
    #: The bound the backlog was held against.
    alarm_at: int = DEFAULT_BACKLOG_ALARM


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


def trim_call(stream: str, floor: str, keep: int) -> Call:
    """bus/lua/trim.lua's call: trim `stream` below `floor`, keeping at least the newest `keep`."""
    return Call([stream], [floor, str(keep)])


async def trim(
    client: Redis, stream: str, keep: int = DEFAULT_KEEP, alarm_at: int = DEFAULT_BACKLOG_ALARM
) -> TrimReport:
    """Trim entries every group has acknowledged, keeping at least the newest `keep` entries.

    Reads no entry bodies into this process: the floor comes from XINFO GROUPS and XPENDING
    summaries, and the trim is one script (bus/lua/trim.lua) whose only read is a COUNT 1 probe.
    """
    if keys.never_trimmed(keys.stream_domain(stream) or ""):
        return TrimReport(stream, 0, None, 0, alarm=False, alarm_at=alarm_at)
    floor = await safe_min_id(client, stream)
    if floor is None:
        return TrimReport(stream, 0, floor, 0, alarm=False, alarm_at=alarm_at)
    reply = cast("list[int]", await Script(client, "trim")(trim_call(stream, floor, keep)))
    trimmed, left, lagging = (int(v) for v in reply)
    # When some group still needs entries, what is left is (within one node) its backlog.
    backlog = left if lagging else 0
    alarm = backlog > alarm_at
    if alarm:
        log.error("%s: backlog of %d+ unacknowledged entries is past its bound %d", stream, backlog, alarm_at)
    return TrimReport(stream, trimmed, floor, backlog, alarm, alarm_at)
