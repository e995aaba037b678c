"""Errors of the calendar engine, rooted in ``CalendarError``."""

from __future__ import annotations

__all__ = ["CalendarConfigError", "CalendarError", "CalendarTooLarge", "InvalidCalendar", "InvalidWindow"]


class CalendarError(Exception):
    """Raised when a calendar cannot be parsed or expanded; base of every calendar error."""


class CalendarConfigError(CalendarError, ValueError):
    """Raised when expansion options are impossible (e.g. an unknown default time zone)."""


class InvalidCalendar(CalendarError):
    """Raised when a document is not valid iCalendar or an event lacks UID/DTSTART or has broken dates/rules."""


class CalendarTooLarge(CalendarError):
    """Raised when a document, its event count, a rule's work or the occurrences in a window exceed a limit."""


class InvalidWindow(CalendarError):
    """Raised when an expansion window is naive, empty or longer than allowed."""
