"""Errors of the documents engine, rooted in one base.

Every `DocumentError` is permanent: the same bytes fail the same way on every
delivery, so the bus should dead-letter the event at once instead of retrying.
"""

from __future__ import annotations

__all__ = [
    "CorruptDocument",
    "DocumentError",
    "DocumentTooLarge",
    "EmptyDocument",
    "InvalidOptions",
    "UnsupportedDocument",
]


class DocumentError(Exception):
    """Raised when a document cannot be turned into text; base of every documents error."""


class UnsupportedDocument(DocumentError):
    """Raised when the bytes are a format the engine does not read (image, archive, binary)."""


class CorruptDocument(DocumentError):
    """Raised when the bytes claim a supported format but cannot be parsed (or are encrypted)."""


class EmptyDocument(DocumentError):
    """Raised when a document parses but holds no extractable text."""


class DocumentTooLarge(DocumentError):
    """Raised when a document exceeds a configured byte, page or character limit."""


class InvalidOptions(DocumentError, ValueError):
    """Raised when limits or chunking options are out of range (a caller bug, not bad input)."""
