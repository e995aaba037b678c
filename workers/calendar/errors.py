"""Errors of the calendar engine: ``CalendarError`` says whose, the second base what happens next.

A bad or oversized calendar is permanent (the same bytes fail the same way); impossible
options are a configuration error.
"""

from __future__ import annotations

from aiwf.schemas.errors import AiwfError, ConfigError, PermanentError

__all__ = ["CalendarConfigError", "CalendarError", "CalendarTooLarge", "InvalidCalendar", "InvalidWindow"]


class CalendarError(AiwfError):
    """Raised when a calendar cannot be parsed or expanded; base of every calendar error."""


class CalendarConfigError(CalendarError, ConfigError, ValueError):
    """Raised when expansion options are impossible (e.g. an unknown default time zone)."""


class InvalidCalendar(CalendarError, PermanentError):
    """Raised when a document is not valid iCalendar or an event lacks UID/DTSTART or has broken dates/rules."""


class CalendarTooLarge(CalendarError, PermanentError):
    """Raised when a document, its event count, a rule's work or the occurrences in a window exceed a limit."""


class InvalidWindow(CalendarError, PermanentError):
    """Raised when an expansion window is naive, empty or longer than allowed."""
