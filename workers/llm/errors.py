"""Errors of the llm engine: `LLMError` says whose, the second base what happens next.

`BackendUnavailable` is the one class of the tree (re-exported here): retry the event
later (the bus pauses the subscription) or let a router fall back. `PermanentLLMError`
will fail the same way again: dead-letter.
"""

from __future__ import annotations

from aiwf.schemas.errors import AiwfError, BackendUnavailable, ConfigError, PermanentError, TransientError

__all__ = [
    "BackendUnavailable",
    "InvalidChatRequest",
    "InvalidResponse",
    "LLMConfigError",
    "LLMError",
    "PermanentLLMError",
    "RequestFailing",
]


class LLMError(AiwfError):
    """Raised when a chat completion cannot be produced; base of every llm error."""


class LLMConfigError(LLMError, ConfigError, ValueError):
    """Raised when a backend or router is constructed with invalid settings."""


class InvalidResponse(LLMError, BackendUnavailable):
    """Raised when a backend answers 2xx with a body that is not a chat completion (or too big).

    A BackendUnavailable: the same request may succeed later or on another backend.
    """


class PermanentLLMError(LLMError, PermanentError):
    """Raised when a backend refuses the request itself (4xx other than 429): retrying cannot help."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """HTTP status the backend answered with, if any."""


class InvalidChatRequest(PermanentLLMError):
    """Raised when a chat request is malformed (no messages, bad role, out-of-range options)."""


class RequestFailing(LLMError, TransientError):
    """Raised when every backend failed one request while a backend still answers its health check.

    The request's own failure, not an outage: retried with backoff up to max deliveries, then
    dead-lettered. Outage evidence only as any TransientError is (many distinct requests failing
    alike in a row); one poison request alone never pauses the subscription.
    """
