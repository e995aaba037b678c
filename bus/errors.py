"""The bus's errors, and the one tree re-exported (it is drawn in aiwf.schemas.errors).

The root and the "what happens next" classes live in schemas, the lowest layer, because
schemas may not import bus; they are re-exported here so `from aiwf.bus.errors import
PermanentError` works.
"""

from __future__ import annotations

from aiwf.schemas.errors import (
    AiwfError,
    BackendUnavailable,
    ConfigError,
    PermanentError,
    Refused,
    SchemaError,
    TransientError,
)

__all__ = [
    "AiwfError",
    "BackendUnavailable",
    "ConfigError",
    "GroupMissing",
    "PermanentError",
    "PublishRefused",
    "RedisUnavailable",
    "Refused",
    "SchemaError",
    "TransientError",
]


class PublishRefused(Refused):
    """Raised when publish refuses an event (unknown type, invalid payload, too large); nothing was written."""


class RedisUnavailable(BackendUnavailable):
    """Raised when Redis did not answer within the retry budget; the message says which URL and how long.

    A BackendUnavailable: a handler whose Redis calls run out of budget pauses its subscription
    instead of dead-lettering the event.
    """


class GroupMissing(TransientError):
    """Raised when a consumer group or its stream is gone; the worker recreates it and reads again."""


class HandlerTimeout(TransientError):
    """Raised by the timeout middleware when a handler runs past its subscription's `timeout_s`."""
