"""Time zones of one document, read from that document only.

icalendar keeps one process-wide cache of VTIMEZONE definitions by TZID and
fills it while it parses: the first document that defines a custom TZID
("Office Time", an Outlook "Western/Central Europe") fixes its meaning for
every later document in the process, even one with its own, different
VTIMEZONE. So after parsing, every TZID-bearing date-time of a VEVENT is given
its zone again from a resolver of this document alone: IANA and Windows names
through icalendar's own lookup, anything else from this document's VTIMEZONE.
A TZID that neither names a zone nor is defined here follows `UnknownTzid`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Final

import icalendar
from icalendar.timezone.tzp import TZP
from icalendar.timezone.zoneinfo import ZONEINFO

from aiwf.workers.calendar.errors import InvalidCalendar

__all__ = ["DocumentZones", "UnknownTzid"]

#: Shared because its list of IANA names is costly to build; it caches nothing per document.
_PROVIDER: Final = ZONEINFO()
_ZONED: Final = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")


class UnknownTzid(StrEnum):
    """What a VEVENT whose TZID no zone name or VTIMEZONE of its document explains becomes."""

    REJECT = "reject"
    """The event is skipped, and reported with the TZID."""
    UTC = "utc"
    """Its times are read as UTC, and the event is flagged."""
    FLOATING = "floating"
    """Its times are floating (read in the default zone), and the event is flagged."""


class DocumentZones:
    """Resolves TZIDs for one document: a TZP of its own, holding only this document's VTIMEZONEs."""

    def __init__(self, calendar: icalendar.Calendar, policy: UnknownTzid) -> None:
        """Read the document's VTIMEZONE components; InvalidCalendar when one cannot be turned into a zone."""
        self.policy = policy
        self._tzp = TZP(_PROVIDER)
        for component in calendar.subcomponents:
            if isinstance(component, icalendar.Timezone) and "TZID" in component:
                try:
                    self._tzp.cache_timezone_component(component)
                except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
                    msg = f"VTIMEZONE {str(component['TZID'])[:80]!r} is malformed: {str(exc)[:120]}"
                    raise InvalidCalendar(msg) from exc

    def localize(self, event: icalendar.Event, where: str) -> str | None:
        """Give each TZID date-time of `event` this document's zone; a note when the policy flags it.

        InvalidCalendar when a TZID is unknown and the policy is REJECT.
        """
        unknown: set[str] = set()
        for prop in _props(event):
            tzid = prop.params.get("TZID")
            if not tzid:
                continue
            zone = self._tzp.timezone(str(tzid))
            if zone is None:
                unknown.add(str(tzid))
                if self.policy is UnknownTzid.REJECT:
                    continue
                zone = dt.UTC if self.policy is UnknownTzid.UTC else None
                del prop.params["TZID"]
            for value in getattr(prop, "dts", [prop]):
                value.dt = _rezoned(value.dt, zone)
        if not unknown:
            return None
        names = ", ".join(repr(n[:80]) for n in sorted(unknown))
        if self.policy is UnknownTzid.REJECT:
            msg = f"{where} uses TZID {names}, which is neither a known zone nor defined in the document"
            raise InvalidCalendar(msg)
        read_as = "UTC" if self.policy is UnknownTzid.UTC else "floating times"
        return f"{where} uses unknown TZID {names}: read as {read_as}"


def _props(event: icalendar.Event) -> list[Any]:
    found: list[Any] = []
    for name in _ZONED:
        value = event.get(name)
        found += value if isinstance(value, list) else [] if value is None else [value]
    return found


def _rezoned(value: Any, zone: dt.tzinfo | None) -> Any:
    """The same wall time in `zone`; dates and durations as they are; periods member by member."""
    if isinstance(value, tuple):
        return tuple(_rezoned(v, zone) for v in value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=zone)
    return value
