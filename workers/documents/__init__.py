"""Documents engine: bytes -> kind -> text -> chunks. No bus, no Redis.

Files in data-path order: extract.py (detect_kind, extract_text, limits; with the
private readers _pdf.py, _html.py, _markdown.py), chunk.py (chunk_text),
errors.py (DocumentError and its permanent subclasses). samples/ holds a PDF,
an HTML page and a Markdown article for demos and tests.
"""

from aiwf.workers.documents.chunk import Chunk, chunk_text
from aiwf.workers.documents.errors import (
    CorruptDocument,
    DocumentError,
    DocumentTooLarge,
    EmptyDocument,
    InvalidOptions,
    UnsupportedDocument,
)
from aiwf.workers.documents.extract import (
    DEFAULT_LIMITS,
    ExtractLimits,
    Kind,
    decode_text,
    detect_kind,
    extract_text,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Chunk",
    "CorruptDocument",
    "DocumentError",
    "DocumentTooLarge",
    "EmptyDocument",
    "ExtractLimits",
    "InvalidOptions",
    "Kind",
    "UnsupportedDocument",
    "chunk_text",
    "decode_text",
    "detect_kind",
    "extract_text",
]
