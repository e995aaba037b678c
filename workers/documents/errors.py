"""Errors of the documents engine: `DocumentError` says whose, the second base what happens next.

Every error about the bytes is a PermanentError: the same bytes fail the same way on every
delivery, so the bus dead-letters the event at once instead of retrying. `InvalidOptions`
is a caller bug, a ConfigError.
"""

from __future__ import annotations

from aiwf.schemas.errors import AiwfError, ConfigError, PermanentError

__all__ = [
    "CorruptDocument",
    "DocumentError",
    "DocumentTooLarge",
    "EmptyDocument",
    "InvalidOptions",
    "UnsupportedDocument",
]


class DocumentError(AiwfError):
    """Raised when a document cannot be turned into text; base of every documents error."""


class UnsupportedDocument(DocumentError, PermanentError):
    """Raised when the bytes are a format the engine does not read (image, archive, binary)."""


class CorruptDocument(DocumentError, PermanentError):
    """Raised when the bytes claim a supported format but cannot be parsed (or are encrypted)."""


class EmptyDocument(DocumentError, PermanentError):
    """Raised when a document parses but holds no extractable text."""


class DocumentTooLarge(DocumentError, PermanentError):
    """Raised when a document exceeds a configured byte, page or character limit."""


class InvalidOptions(DocumentError, ConfigError, ValueError):
    """Raised when limits or chunking options are out of range (a caller bug, not bad input)."""
