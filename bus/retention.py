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


TRIM_LUA = """
local len = redis.call('XLEN', KEYS[1])
local excess = len - tonumber(ARGV[2])
if excess <= 0 then
  return {0, len, 0}
end
if #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', 1) == 0 then
  local n = redis.call('XTRIM', KEYS[1], 'MAXLEN', '=', ARGV[2])
  return {n, len - n, 0}
end
local n = redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[1], 'LIMIT', excess)
return {n, len - n, 1}
"""
"""Trim below `floor` (ARGV[1]) keeping at least `keep` (ARGV[2]) entries, in one atomic step.

No entry at or past the floor (every group is done with everything): exact MAXLEN keep.
Otherwise MINID ~ floor LIMIT excess: Redis drops whole stream nodes that lie entirely below
the floor, never more than `excess` entries, so neither bound is crossed; up to one node's
worth of acknowledged entries (<= stream-node-max-entries, 100 by default) may stay until a
later pass. Reply: {trimmed, length after, 1 when some group still needs entries}.
"""


async def trim(
    client: Redis, stream: str, keep: int = DEFAULT_KEEP, alarm_at: int = DEFAULT_BACKLOG_ALARM
) -> TrimReport:
    """Trim entries every group has acknowledged, keeping at least the newest `keep` entries.

    Reads no entry bodies into this process: the floor comes from XINFO GROUPS and XPENDING
    summaries, and the trim is one script whose only read is a COUNT 1 probe inside Redis.
    """
    if keys.never_trimmed(keys.domain_of_key(stream)):
        return TrimReport(stream, 0, None, 0, alarm=False, alarm_at=alarm_at)
    floor = await safe_min_id(client, stream)
    if floor is None:
        return TrimReport(stream, 0, floor, 0, alarm=False, alarm_at=alarm_at)
    reply = cast("list[int]", await client.eval(TRIM_LUA, 1, stream, floor, str(keep)))
    trimmed, left, lagging = (int(v) for v in reply)
    # When some group still needs entries, what is left is (within one node) its backlog.
    backlog = left if lagging else 0
    alarm = backlog > alarm_at
    if alarm:
        log.error("%s: backlog of %d+ unacknowledged entries is past its bound %d", stream, backlog, alarm_at)
    return TrimReport(stream, trimmed, floor, backlog, alarm, alarm_at)
