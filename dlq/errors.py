"""The DLQ tool's errors: every one is a refusal at the edge, which the CLI turns into one line."""

from __future__ import annotations

from aiwf.bus.errors import Refused


class DlqError(Refused):
    """Base of every error raised by the dead-letter and inspection tools."""


class BadArgument(DlqError):
    """Raised when a filter, id, duration, rate or stream name cannot be parsed; the message shows the accepted form."""


class UnknownLetter(DlqError):
    """Raised when a dead-letter id names no letter (never existed, purged, or replayed)."""


class UnknownStream(DlqError):
    """Raised when a stream or consumer group named on the command line does not exist."""


class NotReplayable(DlqError):
    """Raised when a letter cannot be put back: malformed body, unknown type or version, invalid payload."""
