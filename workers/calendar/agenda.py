"""The agenda: a projection of every calendar's occurrences, and the "what is on between A and B" query.

Fed by the store's `calendar` category (the occurrence events each sync appends to its
calendar aggregate), it keeps per calendar, under the projection's hash tag:

    start:<calendar>   sorted set: occurrence -> start (epoch seconds)
    span:<calendar>    sorted set: occurrence -> duration (seconds); its top is the longest
    occ:<calendar>     hash: occurrence -> its details as JSON

An occurrence is the JSON array `[uid, recurrence_id]`. A window [A, B) holds what starts
before B and ends after A, so the query reads the starts in [A - longest, B) and filters by
end: no occurrence that began earlier and still runs is missed. A calendar holds only the
occurrences of its last synced window (a sync removes what left it), so every read is bounded.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Final, cast

from aiwf.bus.connection import Redis
from aiwf.bus.store import Projection, Writes
from aiwf.schemas import Envelope
from aiwf.schemas.events.calendar import OccurrenceAdded, OccurrenceDetails, OccurrenceRemoved, OccurrenceUpdated
from aiwf.workers.calendar.errors import InvalidWindow

__all__ = ["AGENDA", "AgendaItem", "agenda", "member"]

AGENDA: Final = Projection("calendar_agenda", "calendar")
#: Most occurrences one query returns.
MAX_LIMIT: Final = 10_000
#: Occurrence detail fields kept in the read model (every AgendaItem field).
_DETAILS: Final = (
    "uid",
    "recurrence_id",
    "start",
    "end",
    "all_day",
    "tz",
    "floating",
    "local_start",
    "summary",
    "location",
    "description",
    "status",
    "sequence",
)


@dataclass(frozen=True, slots=True)
class AgendaItem:
    """One occurrence on the agenda; start and end are UTC ISO instants."""

    uid: str
    recurrence_id: str
    start: str
    end: str
    all_day: bool
    tz: str
    floating: bool
    local_start: str
    summary: str
    location: str
    description: str
    status: str
    sequence: int


def member(uid: str, recurrence_id: str) -> str:
    """The read model's name for one occurrence."""
    return json.dumps([uid, recurrence_id], ensure_ascii=False, separators=(",", ":"))


def _epoch(instant: str) -> int:
    return int(dt.datetime.fromisoformat(instant.replace("Z", "+00:00")).timestamp())


def _upsert(event: OccurrenceDetails, writes: Writes) -> None:
    who, start = member(event.uid, event.recurrence_id), _epoch(event.start)
    details = {name: getattr(event, name) for name in _DETAILS}
    writes.zadd(AGENDA.key("start", event.calendar_id), who, start)
    writes.zadd(AGENDA.key("span", event.calendar_id), who, max(0, _epoch(event.end) - start))
    writes.hset(AGENDA.key("occ", event.calendar_id), who, json.dumps(details, ensure_ascii=False))


@AGENDA.handler
async def on_added(event: OccurrenceAdded, envelope: Envelope, writes: Writes) -> None:
    """Put the occurrence on the agenda."""
    _upsert(event, writes)


@AGENDA.handler
async def on_updated(event: OccurrenceUpdated, envelope: Envelope, writes: Writes) -> None:
    """Replace the occurrence's time and details."""
    _upsert(event, writes)


@AGENDA.handler
async def on_removed(event: OccurrenceRemoved, envelope: Envelope, writes: Writes) -> None:
    """Take the occurrence off the agenda."""
    who = member(event.uid, event.recurrence_id)
    writes.zrem(AGENDA.key("start", event.calendar_id), who)
    writes.zrem(AGENDA.key("span", event.calendar_id), who)
    writes.hdel(AGENDA.key("occ", event.calendar_id), who)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def agenda(
    client: Redis, calendar_id: str, start: dt.datetime, end: dt.datetime, *, limit: int = 1000
) -> list[AgendaItem]:
    """Occurrences of `calendar_id` overlapping [start, end), by start; at most `limit` (1..10000).

    An occurrence without duration counts when it starts inside the window. InvalidWindow for
    naive or empty windows; an unknown calendar has an empty agenda.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidWindow("agenda window start and end must be timezone-aware")
    if end <= start:
        raise InvalidWindow(f"agenda window must end after it starts, got {start.isoformat()} .. {end.isoformat()}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidWindow(f"agenda limit must be 1..{MAX_LIMIT}, got {limit}")
    lo, hi = start.timestamp(), end.timestamp()
    longest = await client.zrevrange(AGENDA.key("span", calendar_id), 0, 0, withscores=True)
    reach = int(longest[0][1]) if longest else 0
    starting = cast(list[bytes], await client.zrangebyscore(AGENDA.key("start", calendar_id), lo - reach, f"({hi}"))
    if not starting:
        return []
    rows = await client.hmget(AGENDA.key("occ", calendar_id), starting)
    items = []
    for row in rows:
        if row is None:
            continue  # removed between the two reads
        item = AgendaItem(**json.loads(_text(row)))
        begins, ends = _epoch(item.start), _epoch(item.end)
        if begins < hi and (ends > lo if ends > begins else begins >= lo):
            items.append(item)
    items.sort(key=lambda i: (i.start, i.uid, i.recurrence_id))
    return items[:limit]
