"""Expand a calendar into occurrences inside a window, with every loop bounded.

recurring-ical-events does the RFC 5545 work (RRULE, RDATE, EXDATE,
RECURRENCE-ID). It asks dateutil for *all* rule dates in a span, and dateutil
walks from DTSTART, so a hostile rule (FREQ=SECONDLY from 1970) would run for
hours before the first occurrence could be counted. Each rule's work is
therefore estimated up front from FREQ, INTERVAL, BY* parts and the distance
from DTSTART to the window end, and refused past ``max_rule_work``; the
occurrences are then counted as they stream out of each series.

A rule that can never match (``BYMONTH=2;BYMONTHDAY=30``, ``BYSETPOS=2`` on a
one-candidate period, ``INTERVAL=7;BYDAY=TU`` from a Monday) makes dateutil
search without yielding until year 9999: seconds per rule. No estimate catches
every such combination, so the whole expansion also runs under a deadline
(``max_seconds``, see ``deadline.py``).

Times: UTC and TZID values keep their zone; floating times and all-day dates
are read in ``default_tz``. Every occurrence carries UTC ISO start/end plus the
zone name it was written in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

from aiwf.workers.calendar.deadline import Deadline
from aiwf.workers.calendar.errors import CalendarConfigError, CalendarTooLarge, InvalidCalendar, InvalidWindow
from aiwf.workers.calendar.props import UTC, as_utc, recurrence_key, sequence, text, utc_iso, when
from aiwf.workers.calendar.rule_cost import check_rule_work

__all__ = ["ExpandOptions", "Occurrence", "OccurrenceKey", "expand"]

OccurrenceKey = tuple[str, str]
"""``(UID, recurrence id)``: the recurrence id is the RECURRENCE-ID or original start (UTC ISO, or a date
for all-day series), and ``""`` for a non-recurring event, so moving a single event is an update."""

#: Widest UTC offset in use (UTC+14); floating times are filtered exactly after a window this much wider.
_MAX_OFFSET: Final = dt.timedelta(hours=14)


@dataclass(frozen=True, slots=True)
class ExpandOptions:
    """Limits and defaults for :func:`expand`."""

    #: More occurrences than this in the window raise CalendarTooLarge.
    max_occurrences: int = 10_000
    #: Longest window accepted.
    max_window: dt.timedelta = dt.timedelta(days=400)
    #: Estimated dateutil steps (from each DTSTART to the window end) for the whole calendar; an upper
    #: bound costing 2-9 µs each, so this refuses the hopeless early and ``max_seconds`` bounds the rest.
    max_rule_work: int = 500_000
    #: Zone for floating times and all-day dates (an IANA name).
    default_tz: str = "UTC"
    #: Wall-clock budget for one expansion; past it CalendarTooLarge is raised.
    max_seconds: float = 3.0

    def __post_init__(self) -> None:
        """Refuse impossible limits and unknown zones."""
        if self.max_occurrences < 1 or self.max_rule_work < 1:
            msg = "max_occurrences and max_rule_work must be >= 1"
            raise CalendarConfigError(msg)
        if self.max_seconds <= 0:
            msg = f"max_seconds must be > 0, got {self.max_seconds}"
            raise CalendarConfigError(msg)
        if self.max_window <= dt.timedelta(0):
            msg = f"max_window must be positive, got {self.max_window}"
            raise CalendarConfigError(msg)
        try:
            ZoneInfo(self.default_tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"unknown default_tz {self.default_tz!r}"
            raise CalendarConfigError(msg) from exc


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One occurrence of an event, normalised to UTC."""

    uid: str
    recurrence_id: str
    summary: str
    #: UTC ISO 8601 instants, e.g. ``2025-03-03T08:30:00Z`` (all-day: midnight in the default zone).
    start: str
    end: str
    all_day: bool
    #: Zone the event was written in: ``UTC``, its TZID, or the default zone when floating / all-day.
    tz: str
    floating: bool
    #: Start as written, in its own zone: ``2025-03-03T09:30:00+01:00``, or ``2025-05-01`` when all-day.
    local_start: str
    sequence: int
    status: str
    location: str
    description: str
    #: SHA-256 over what a person would see (times, zone, texts, status); SEQUENCE is kept apart.
    content_hash: str

    @property
    def key(self) -> OccurrenceKey:
        """``(uid, recurrence_id)``."""
        return (self.uid, self.recurrence_id)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


def _content_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Source:
    """What one VEVENT (a series master or a modified instance) gives each of its occurrences."""

    uid: str
    #: Our key form of RECURRENCE-ID for a modified instance; None for a master.
    recurrence_id: str | None
    #: Occurrences derived from it are keyed by start, not RECURRENCE-ID.
    this_and_future: bool
    sequence: int
    tzid: str | None
    shown: dict[str, str]


def _source(event: icalendar.Event, zone: ZoneInfo) -> _Source:
    rid = recurrence_key(when(event, "RECURRENCE-ID"), zone) if "RECURRENCE-ID" in event else None
    rid_prop = event.get("RECURRENCE-ID")
    tzid = event["DTSTART"].params.get("TZID")
    return _Source(
        uid=text(event, "UID"),
        recurrence_id=rid,
        this_and_future=rid_prop is not None and str(rid_prop.params.get("RANGE", "")).upper() == "THISANDFUTURE",
        sequence=sequence(event),
        tzid=str(tzid) if tzid else None,
        shown={
            "summary": text(event, "SUMMARY"),
            "location": text(event, "LOCATION"),
            "description": text(event, "DESCRIPTION"),
            "status": text(event, "STATUS").upper(),
        },
    )


def _library_recurrence_id(value: dt.date | dt.datetime) -> dt.datetime:
    """RECURRENCE-ID the way recurring-ical-events identifies it: naive, UTC if it had a zone."""
    if not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def _sources(events: list[icalendar.Event], zone: ZoneInfo) -> dict[tuple[str, dt.datetime | None], _Source]:
    """Source VEVENTs by (UID, library recurrence id or None); duplicates keep the highest SEQUENCE."""
    found: dict[tuple[str, dt.datetime | None], _Source] = {}
    for event in events:
        source = _source(event, zone)
        rid = _library_recurrence_id(when(event, "RECURRENCE-ID")) if "RECURRENCE-ID" in event else None
        key = (source.uid, rid)
        if key not in found or source.sequence >= found[key].sequence:
            found[key] = source
    return found


def _series_occurrences(query: recurring_ical_events.CalendarQuery, lo: dt.datetime, hi: dt.datetime) -> Iterator[Any]:
    """Occurrences of every series in [lo, hi), streamed so the caller can stop counting early."""
    for series in query.series:
        yield from series.between(lo, hi)


def expand(
    calendar: icalendar.Calendar,
    start: dt.datetime,
    end: dt.datetime,
    options: ExpandOptions | None = None,
) -> dict[OccurrenceKey, Occurrence]:
    """Occurrences overlapping [start, end), keyed by (UID, recurrence id), ordered by start."""
    opts = options or ExpandOptions()
    if start.tzinfo is None or end.tzinfo is None:
        msg = "window start and end must be timezone-aware"
        raise InvalidWindow(msg)
    if end <= start or end - start > opts.max_window:
        msg = f"window must be non-empty and at most {opts.max_window}, got {end - start}"
        raise InvalidWindow(msg)
    lo, hi = start.astimezone(UTC), end.astimezone(UTC)
    zone = ZoneInfo(opts.default_tz)
    events = [c for c in calendar.subcomponents if isinstance(c, icalendar.Event)]
    check_rule_work(events, hi + _MAX_OFFSET, opts.max_rule_work, zone)
    deadline = Deadline(opts.max_seconds)
    recurring = {text(e, "UID") for e in events if "RECURRENCE-ID" not in e and ("RRULE" in e or "RDATE" in e)}
    sources = _sources(events, zone)

    found: dict[OccurrenceKey, Occurrence] = {}
    try:
        with deadline.watching():
            stream = _series_occurrences(recurring_ical_events.of(calendar), lo - _MAX_OFFSET, hi + _MAX_OFFSET)
        while True:
            with deadline.watching():
                occ = next(stream, None)
            if occ is None:
                break
            deadline.check()
            rid = occ.id.recurrence_id
            source = sources.get((str(occ.uid), rid)) or sources.get((str(occ.uid), None))
            if source is None:
                msg = f"occurrence of {str(occ.uid)[:80]!r} matches no VEVENT (RECURRENCE-ID {rid})"
                raise InvalidCalendar(msg)
            item, o_start, o_end = _occurrence(occ.start, occ.end, source, source.uid in recurring, zone, opts)
            if not (o_start < hi and (o_end > lo if o_end > o_start else o_start >= lo)):
                continue
            previous = found.get(item.key)
            if previous is None or item.sequence >= previous.sequence:
                found[item.key] = item
            if len(found) > opts.max_occurrences:
                msg = f"more than {opts.max_occurrences} occurrences in the window"
                raise CalendarTooLarge(msg)
    except (recurring_ical_events.InvalidCalendar, icalendar.InvalidCalendar) as exc:
        msg = f"calendar cannot be expanded: {str(exc)[:160]}"
        raise InvalidCalendar(msg) from exc
    except (ValueError, TypeError, OverflowError, KeyError) as exc:
        msg = f"calendar cannot be expanded: {type(exc).__name__}: {str(exc)[:160]}"
        raise InvalidCalendar(msg) from exc
    return dict(sorted(found.items(), key=lambda kv: (kv[1].start, kv[0])))


def _occurrence(
    start_value: dt.date | dt.datetime,
    end_value: dt.date | dt.datetime,
    source: _Source,
    recurring: bool,
    zone: ZoneInfo,
    opts: ExpandOptions,
) -> tuple[Occurrence, dt.datetime, dt.datetime]:
    """Our Occurrence for one library occurrence of ``source``, plus its UTC start and end."""
    all_day = not isinstance(start_value, dt.datetime)
    floating = all_day or getattr(start_value, "tzinfo", None) is None
    if source.recurrence_id is not None and not source.this_and_future:
        recurrence_id = source.recurrence_id
    elif recurring or source.recurrence_id is not None:
        recurrence_id = recurrence_key(start_value, zone)
    else:
        recurrence_id = ""
    if floating:
        tz_name = opts.default_tz
    else:
        key = getattr(getattr(start_value, "tzinfo", None), "key", None)
        tz_name = source.tzid or (str(key) if key else "UTC")
    start_utc, end_utc = as_utc(start_value, zone), as_utc(end_value, zone)
    start_iso, end_iso = utc_iso(start_utc), utc_iso(end_utc)
    times = {"start": start_iso, "end": end_iso, "all_day": all_day, "tz": tz_name}
    item = Occurrence(
        uid=source.uid,
        recurrence_id=recurrence_id,
        start=start_iso,
        end=end_iso,
        all_day=all_day,
        tz=tz_name,
        floating=floating,
        local_start=start_value.isoformat(),
        sequence=source.sequence,
        content_hash=_content_hash({**source.shown, **times}),
        **source.shown,
    )
    return item, start_utc, end_utc
