"""Errors, rooted in one base and sorted by what happens next.

AiwfError
├── ConfigError        refused at start-up: fix the setting named in the message
├── PublishRefused     refused at the edge: nothing was written
├── RedisUnavailable   Redis did not answer within the budget: nothing is known to be written
├── GroupMissing       a consumer group or stream vanished under a running worker
├── PermanentError     raised by a handler: dead-letter now, retrying cannot help
└── TransientError     raised by a handler: leave pending, retry with backoff
    └── BackendUnavailable   a dependency is down: pause the subscription, never dead-letter
"""

from __future__ import annotations


class AiwfError(Exception):
    """Base of every aiwf error."""

    #: Set on an error a publish raises: the event id it used (`event_ids` for publish_many),
    #: so the caller can publish again with `event_id=` and get one effect.
    event_id: str | None = None
    event_ids: tuple[str, ...] = ()


class ConfigError(AiwfError):
    """Raised when a setting is invalid; the message names the setting and the accepted values."""


class PublishRefused(AiwfError):
    """Raised when publish refuses an event (unknown type, invalid payload, too large); nothing was written."""


class RedisUnavailable(AiwfError):
    """Raised when Redis did not answer within the retry budget; the message says which URL and how long."""


class GroupMissing(AiwfError):
    """Raised when a consumer group or its stream is gone; the worker recreates it and says so."""


class PermanentError(AiwfError):
    """Raised by a handler for an event that can never succeed; it is dead-lettered on this delivery."""


class TransientError(AiwfError):
    """Raised by a handler for a failure that may pass; the event is retried with backoff."""


class BackendUnavailable(TransientError):
    """Raised by a handler when its backend is down; the subscription pauses and probes, nothing is dead-lettered."""
