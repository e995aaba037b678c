"""Event store errors: StoreError is their base, each leaf says what the caller does next."""

from __future__ import annotations

from aiwf.bus.errors import AiwfError, PermanentError, TransientError


class StoreError(AiwfError):
    """Raised when a store call is refused before anything was written (bad stream id, batch, size)."""


class ConcurrencyError(StoreError, TransientError):
    """Raised when an append's expected version is not the stream's version; nothing was written.

    A TransientError: a bus handler that loads, decides and saves may simply raise it, and the
    redelivery reloads the newer state and decides again.
    """

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id!r}: expected version {expected}, actual version {actual}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class IdempotencyConflict(StoreError, PermanentError):
    """Raised when some, not all, event ids of a batch are already in the stream; nothing was written.

    A retried append must resend the same batch: the same ids, in the same order. Resending
    this one fails the same way, so it is permanent.
    """
