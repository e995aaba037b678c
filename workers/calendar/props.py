"""Reading VEVENT properties and normalising times to UTC (helpers shared by the calendar modules)."""

from __future__ import annotations

import datetime as dt
from typing import Final
from zoneinfo import ZoneInfo

import icalendar

from aiwf.workers.calendar.errors import InvalidCalendar

__all__ = ["UTC", "as_utc", "recurrence_key", "sequence", "text", "utc_iso", "when"]

UTC: Final = dt.UTC


def utc_iso(value: dt.datetime) -> str:
    """``2025-03-03T08:30:00Z`` for an aware datetime."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def as_utc(value: dt.date | dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """An aware UTC instant: dates are midnight and naive times are wall time in ``zone``."""
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def recurrence_key(value: dt.date | dt.datetime, zone: ZoneInfo) -> str:
    """A recurrence id as we key it: UTC ISO for date-times (floating read in ``zone``), ISO date for dates."""
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    return utc_iso(as_utc(value, zone))


def when(component: icalendar.cal.Component, name: str) -> dt.date | dt.datetime:
    """The date or date-time value of property ``name``; InvalidCalendar if it is missing or not a date."""
    value = getattr(component.get(name), "dt", None)
    if not isinstance(value, dt.date):
        msg = f"VEVENT {text(component, 'UID')[:80]!r} has no usable {name}"
        raise InvalidCalendar(msg)
    return value


def text(component: icalendar.cal.Component, name: str) -> str:
    """Property ``name`` as text (the first, when repeated), ``""`` when absent."""
    value = component.get(name)
    if isinstance(value, list):
        value = value[0] if value else None
    return "" if value is None else str(value)


def sequence(component: icalendar.cal.Component) -> int:
    """SEQUENCE (0 when absent); InvalidCalendar when it is not an integer."""
    try:
        return int(component.get("SEQUENCE", 0))
    except (TypeError, ValueError) as exc:
        msg = f"VEVENT {text(component, 'UID')!r} has a malformed SEQUENCE"
        raise InvalidCalendar(msg) from exc
