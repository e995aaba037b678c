"""Estimate, before running it, how much work dateutil will do for a calendar's rules.

dateutil walks every rule from its DTSTART, one period (a second, a day, a
year...) at a time, and per period tries each day and time the BY parts
allow. The estimate below is an upper bound on those steps up to the window
end, from FREQ, INTERVAL, UNTIL and the BY parts; it costs microseconds and
refuses the hopeless (FREQ=SECONDLY since 1970) with a clear message.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Final
from zoneinfo import ZoneInfo

import icalendar

from aiwf.workers.calendar.errors import CalendarTooLarge, InvalidCalendar
from aiwf.workers.calendar.props import as_utc, text, when

__all__ = ["check_rule", "check_rule_work", "rule_work", "rules"]

_PERIOD_S: Final = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3_600,
    "DAILY": 86_400,
    "WEEKLY": 7 * 86_400,
    "MONTHLY": 28 * 86_400,  # shortest month: an upper bound on the number of periods
    "YEARLY": 365 * 86_400,
}
_RANK: Final = {f: i for i, f in enumerate(("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"))}
#: BY parts that add days inside one period, and the most days a period can hold.
_DAY_EXPANDERS: Final = {
    "YEARLY": ({"BYMONTH", "BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY"}, 366),
    "MONTHLY": ({"BYMONTHDAY", "BYDAY"}, 31),
    "WEEKLY": ({"BYDAY"}, 7),
}
#: BY parts that add times inside a day, and the frequency they stop expanding at.
_TIME_EXPANDERS: Final = (("BYHOUR", "HOURLY"), ("BYMINUTE", "MINUTELY"), ("BYSECOND", "SECONDLY"))


def rules(component: icalendar.cal.Component) -> list[icalendar.vRecur]:
    """The RRULE values of a VEVENT (there may be several)."""
    value = component.get("RRULE")
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [r for r in values if isinstance(r, icalendar.vRecur)]


def _first(rule: icalendar.vRecur, name: str) -> Any:
    values = rule.get(name)
    return values[0] if values else None


def check_rule(rule: icalendar.vRecur, where: str = "") -> tuple[str, int]:
    """``(FREQ, INTERVAL)`` of a usable rule; InvalidCalendar naming ``where`` when either is broken."""
    prefix = f"{where}: " if where else ""
    freq = str(_first(rule, "FREQ") or "").upper()
    if freq not in _PERIOD_S:
        msg = f"{prefix}RRULE has an unknown FREQ {freq!r}"
        raise InvalidCalendar(msg)
    try:
        raw_interval = _first(rule, "INTERVAL")
        interval = 1 if raw_interval is None else int(raw_interval)
    except (TypeError, ValueError) as exc:
        msg = f"{prefix}RRULE has a malformed INTERVAL"
        raise InvalidCalendar(msg) from exc
    if interval < 1:
        msg = f"{prefix}RRULE INTERVAL must be >= 1, got {interval}"
        raise InvalidCalendar(msg)
    return freq, interval


def rule_work(rule: icalendar.vRecur, dtstart: dt.datetime, until_window: dt.datetime) -> float:
    """Upper bound on the dates dateutil generates for ``rule`` from DTSTART up to the window end."""
    freq, interval = check_rule(rule)
    end = until_window
    until = _first(rule, "UNTIL")
    if isinstance(until, dt.date):
        end = min(end, as_utc(until, ZoneInfo("UTC")) + dt.timedelta(days=1))
    span_s = max((end - dtstart).total_seconds(), 0.0)
    periods = math.floor(span_s / (_PERIOD_S[freq] * interval)) + 1
    day_factor = 1
    if freq in _DAY_EXPANDERS:
        parts, days = _DAY_EXPANDERS[freq]
        if any(rule.get(p) for p in parts):
            day_factor = days
    time_factor = 1
    for part, stop_freq in _TIME_EXPANDERS:
        if _RANK[freq] < _RANK[stop_freq] and rule.get(part):
            time_factor *= len(rule[part])
    work = float(periods * day_factor * time_factor)
    count = _first(rule, "COUNT")
    by_parts = [k for k in rule if k.startswith("BY")]
    if isinstance(count, int) and not by_parts:
        work = min(work, float(count))  # no filters: dateutil stops after COUNT dates
    return work


def check_rule_work(events: list[icalendar.Event], window_end: dt.datetime, max_work: int, zone: ZoneInfo) -> None:
    """Raise CalendarTooLarge if the rules (and RDATEs) of ``events`` add up to more than ``max_work`` steps."""
    total = 0.0
    for event in events:
        rdates = event.get("RDATE")
        for prop in rdates if isinstance(rdates, list) else [rdates] if rdates is not None else []:
            total += len(getattr(prop, "dts", ()))
        event_rules = rules(event)
        if not event_rules:
            continue
        dtstart = as_utc(when(event, "DTSTART"), zone)
        for rule in event_rules:
            work = rule_work(rule, dtstart, window_end)
            total += work
            if total > max_work:
                msg = (
                    f"VEVENT {text(event, 'UID')[:80]!r}: its RRULE would generate about {work:.0f} dates "
                    f"before the window ends; the limit is {max_work}"
                )
                raise CalendarTooLarge(msg)
