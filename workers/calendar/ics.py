"""Parse and check an iCalendar (RFC 5545) document with icalendar, within size limits.

The document as a whole must parse and stay within the limits, or it is refused. Each
VEVENT is then checked on its own: one that breaks the rules is taken out of the calendar
and reported with its reason (`Feed.skipped`), so one bad event never costs the rest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Final

import icalendar

from aiwf.workers.calendar.errors import CalendarTooLarge, InvalidCalendar
from aiwf.workers.calendar.rule_cost import check_rule, rules
from aiwf.workers.calendar.zones import DocumentZones, UnknownTzid

__all__ = ["MAX_EVENTS", "MAX_ICS_BYTES", "Feed", "Note", "parse_calendar", "read_feed"]

#: Largest document accepted; real feeds of a busy person are a few hundred KiB.
MAX_ICS_BYTES: Final = 1024 * 1024
#: Most VEVENTs accepted in one document.
MAX_EVENTS: Final = 5_000
#: VCALENDAR > VEVENT > VALARM is depth 3; anything much deeper is hostile.
MAX_DEPTH: Final = 6
MAX_UID_CHARS: Final = 1024
#: Properties whose parse errors make an event unusable (icalendar records, not raises, such errors).
_CRITICAL: Final = frozenset(
    {"UID", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID", "SEQUENCE"},
)
#: Properties an event has at most once, whose meaning a second value would change: a duplicate skips it.
_SINGLE: Final = ("UID", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "SEQUENCE")
#: Texts also allowed once; clients that repeat one mean the first (what common readers show).
_FIRST_WINS: Final = ("SUMMARY", "STATUS", "LOCATION", "DESCRIPTION", "CLASS", "TRANSP", "PRIORITY", "URL")
#: Left out of a derived UID: exporters rewrite them on every export of an unchanged event.
_VOLATILE: Final = frozenset({"DTSTAMP", "LAST-MODIFIED", "CREATED"})


@dataclass(frozen=True, slots=True)
class Note:
    """One VEVENT that was skipped or flagged, and why."""

    uid: str
    reason: str


@dataclass
class Feed:
    """A parsed document: the calendar with its usable VEVENTs only, and what was left out or flagged."""

    calendar: icalendar.Calendar
    skipped: list[Note] = field(default_factory=list)
    flagged: list[Note] = field(default_factory=list)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _check_depth(cal: icalendar.Calendar) -> None:
    stack: list[tuple[icalendar.cal.Component, int]] = [(cal, 1)]
    while stack:
        component, depth = stack.pop()
        if depth > MAX_DEPTH:
            msg = f"components nested deeper than {MAX_DEPTH} levels"
            raise InvalidCalendar(msg)
        stack.extend((sub, depth + 1) for sub in component.subcomponents)


def derived_uid(event: icalendar.Event) -> str:
    """A stable UID for a VEVENT without one: a hash of its properties, volatile timestamps left out."""
    lines = sorted(
        f"{name}:{value.to_ical().decode(errors='replace') if hasattr(value, 'to_ical') else value}"
        for name, values in event.items()
        if name not in _VOLATILE
        for value in (values if isinstance(values, list) else [values])
    )
    return "derived-" + hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32] + "@aiwf"


def _where(event: icalendar.Event, index: int) -> str:
    uid = event.get("UID")
    return f"VEVENT #{index}" if uid is None or isinstance(uid, list) else f"VEVENT {str(uid)[:80]!r}"


def _check_event(event: icalendar.Event, where: str, zones: DocumentZones) -> str | None:
    """Raise InvalidCalendar when the event is unusable; normalise what practice allows, with a note."""
    for name in _SINGLE:
        repeated = event.get(name)
        if isinstance(repeated, list):
            msg = f"{where} has {len(repeated)} {name} properties; RFC 5545 allows one"
            raise InvalidCalendar(msg)
    for name in _FIRST_WINS:
        repeated = event.get(name)
        if isinstance(repeated, list):
            event[name] = repeated[0]
    if len(str(event["UID"])) > MAX_UID_CHARS:
        msg = f"{where} has a UID longer than {MAX_UID_CHARS} characters"
        raise InvalidCalendar(msg)
    broken = [(name, err) for name, err in event.errors if name in _CRITICAL]
    if broken:
        name, err = broken[0]
        msg = f"{where} has a malformed {name}: {str(err)[:120]}"
        raise InvalidCalendar(msg)
    if event.get("DTSTART") is None:
        msg = f"{where} has no DTSTART"
        raise InvalidCalendar(msg)
    if "DTEND" in event and "DURATION" in event:
        msg = f"{where} has both DTEND and DURATION"
        raise InvalidCalendar(msg)
    notes = [_drop_empty_rules(event, where), zones.localize(event, where)]
    for rule in rules(event):
        check_rule(rule, where)
    _check_span(event, where)
    return "; ".join(n for n in notes if n) or None


def _drop_empty_rules(event: icalendar.Event, where: str) -> str | None:
    """An empty `RRULE:` line (seen in client exports) repeats nothing: drop it, keep the event."""
    values = event.get("RRULE")
    listed = values if isinstance(values, list) else [] if values is None else [values]
    kept = [r for r in listed if not isinstance(r, icalendar.vRecur) or r]
    if len(kept) == len(listed):
        return None
    del event["RRULE"]
    for rule in kept:
        event.add("RRULE", rule)
    return f"{where} has an empty RRULE: read as not repeating by rule"


def _check_span(event: icalendar.Event, where: str) -> None:
    """DTEND must have DTSTART's value type and not precede it; DURATION must not be negative."""
    start = getattr(event.get("DTSTART"), "dt", None)
    end = getattr(event.get("DTEND"), "dt", None)
    duration = getattr(event.get("DURATION"), "dt", None)
    if isinstance(duration, dt.timedelta) and duration < dt.timedelta(0):
        msg = f"{where} has a negative DURATION"
        raise InvalidCalendar(msg)
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        return
    if isinstance(start, dt.datetime) != isinstance(end, dt.datetime):
        msg = f"{where} mixes a date and a date-time in DTSTART and DTEND"
        raise InvalidCalendar(msg)
    floating = [isinstance(v, dt.datetime) and v.tzinfo is None for v in (start, end)]
    if isinstance(start, dt.datetime) and floating[0] != floating[1]:
        return  # floating start with zoned end: no common clock to compare on
    if end < start:
        msg = f"{where} ends before it starts"
        raise InvalidCalendar(msg)


def _parse(raw: bytes, max_bytes: int) -> icalendar.Calendar:
    if len(raw) > max_bytes:
        msg = f"calendar is {len(raw)} bytes; the limit is {max_bytes}"
        raise CalendarTooLarge(msg)
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeError) as exc:
        msg = f"not an iCalendar document: {_short(exc)}"
        raise InvalidCalendar(msg) from exc
    if not isinstance(cal, icalendar.Calendar) or cal.name != "VCALENDAR":
        msg = f"top-level component must be VCALENDAR, got {getattr(cal, 'name', None)!r}"
        raise InvalidCalendar(msg)
    _check_depth(cal)
    for tz in (c for c in cal.subcomponents if isinstance(c, icalendar.Timezone)):
        for part in [tz, *tz.subcomponents]:
            if part.errors:
                msg = f"VTIMEZONE {str(tz.get('TZID'))!r} is malformed: {part.errors[0][0]}"
                raise InvalidCalendar(msg)
    return cal


def read_feed(
    data: bytes | str,
    *,
    max_bytes: int = MAX_ICS_BYTES,
    max_events: int = MAX_EVENTS,
    unknown_tzid: UnknownTzid = UnknownTzid.REJECT,
) -> Feed:
    """Parse one VCALENDAR and check each VEVENT; the unusable ones are left out and reported.

    CalendarTooLarge past the limits and InvalidCalendar for a document that is no calendar at all.
    """
    cal = _parse(data.encode() if isinstance(data, str) else data, max_bytes)
    events = [c for c in cal.subcomponents if isinstance(c, icalendar.Event)]
    if len(events) > max_events:
        msg = f"calendar holds {len(events)} events; the limit is {max_events}"
        raise CalendarTooLarge(msg)
    feed, zones, unusable = Feed(cal), DocumentZones(cal, unknown_tzid), set()
    for index, event in enumerate(events):
        if not str(event.get("UID") or "").strip():
            event.pop("UID", None)
            event.add("UID", derived_uid(event))
        where = _where(event, index)
        try:
            note = _check_event(event, where, zones)
        except InvalidCalendar as exc:
            unusable.add(id(event))
            feed.skipped.append(Note(_uid(event), str(exc)))
            continue
        if note:
            feed.flagged.append(Note(_uid(event), note))
    cal.subcomponents = [c for c in cal.subcomponents if id(c) not in unusable]
    return feed


def _uid(event: icalendar.Event) -> str:
    uid = event.get("UID")
    return str((uid[0] if isinstance(uid, list) else uid) or "")[:MAX_UID_CHARS]


def parse_calendar(
    data: bytes | str,
    *,
    max_bytes: int = MAX_ICS_BYTES,
    max_events: int = MAX_EVENTS,
    unknown_tzid: UnknownTzid = UnknownTzid.REJECT,
) -> icalendar.Calendar:
    """`read_feed`, all or nothing: InvalidCalendar with the first skipped event's reason."""
    feed = read_feed(data, max_bytes=max_bytes, max_events=max_events, unknown_tzid=unknown_tzid)
    if feed.skipped:
        raise InvalidCalendar(feed.skipped[0].reason)
    return feed.calendar
