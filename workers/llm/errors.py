"""Errors of the llm engine, sorted by what the caller should do next.

`BackendUnavailable` is transient: retry the event later (the bus's backoff) or
let a router fall back. `PermanentLLMError` will fail the same way again: dead-letter.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "InvalidChatRequest",
    "InvalidResponse",
    "LLMConfigError",
    "LLMError",
    "PermanentLLMError",
]


class LLMError(Exception):
    """Raised when a chat completion cannot be produced; base of every llm error."""


class LLMConfigError(LLMError, ValueError):
    """Raised when a backend, breaker or router is constructed with invalid settings."""


class BackendUnavailable(LLMError):
    """Raised when a backend cannot answer now (connect error, timeout, 5xx, 429 after retries).

    Transient: the same request may succeed later or on another backend.
    """


class InvalidResponse(BackendUnavailable):
    """Raised when a backend answers 2xx with a body that is not a chat completion (or too big)."""


class PermanentLLMError(LLMError):
    """Raised when a backend refuses the request itself (4xx other than 429): retrying cannot help."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        """HTTP status the backend answered with, if any."""


class InvalidChatRequest(PermanentLLMError):
    """Raised when a chat request is malformed (no messages, bad role, out-of-range options)."""
