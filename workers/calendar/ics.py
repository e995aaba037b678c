"""Parse and check an iCalendar (RFC 5545) document with icalendar, within size limits."""

from __future__ import annotations

import datetime as dt
from typing import Final

import icalendar

from aiwf.workers.calendar.errors import CalendarTooLarge, InvalidCalendar

__all__ = ["MAX_EVENTS", "MAX_ICS_BYTES", "parse_calendar"]

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


def _check_event(event: icalendar.Event, index: int) -> None:
    uid = event.get("UID")
    where = f"VEVENT #{index}" if uid is None else f"VEVENT {str(uid)[:80]!r}"
    if uid is None or not str(uid).strip():
        msg = f"{where} has no UID"
        raise InvalidCalendar(msg)
    if len(str(uid)) > MAX_UID_CHARS:
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
    _check_span(event, where)


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


def parse_calendar(
    data: bytes | str,
    *,
    max_bytes: int = MAX_ICS_BYTES,
    max_events: int = MAX_EVENTS,
) -> icalendar.Calendar:
    """Parse one VCALENDAR; raise CalendarTooLarge past the limits, InvalidCalendar with the reason otherwise."""
    raw = data.encode() if isinstance(data, str) else data
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
    events = [c for c in cal.subcomponents if isinstance(c, icalendar.Event)]
    if len(events) > max_events:
        msg = f"calendar holds {len(events)} events; the limit is {max_events}"
        raise CalendarTooLarge(msg)
    for index, event in enumerate(events):
        _check_event(event, index)
    for tz in (c for c in cal.subcomponents if isinstance(c, icalendar.Timezone)):
        for part in [tz, *tz.subcomponents]:
            if part.errors:
                msg = f"VTIMEZONE {str(tz.get('TZID'))!r} is malformed: {part.errors[0][0]}"
                raise InvalidCalendar(msg)
    return cal
