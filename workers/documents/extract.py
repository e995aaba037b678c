"""Bytes in, plain text out: detect a document's kind, then extract its text.

Detection trusts content over labels: magic bytes first, then the declared
content type, then the file name, then a sniff of the first bytes. Every limit
is checked before the expensive work it protects.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from aiwf.workers.documents._html import html_to_text
from aiwf.workers.documents._markdown import markdown_to_text
from aiwf.workers.documents._pdf_sandbox import pdf_to_text_bounded
from aiwf.workers.documents.errors import (
    CorruptDocument,
    DocumentTooLarge,
    EmptyDocument,
    InvalidOptions,
    UnsupportedDocument,
)

__all__ = [
    "DEFAULT_LIMITS",
    "ExtractLimits",
    "Kind",
    "decode_text",
    "detect_kind",
    "extract_text",
]


class Kind(StrEnum):
    """Document kinds the engine can read."""

    PDF = "pdf"
    """Portable Document Format, read with pypdf."""
    HTML = "html"
    """HTML or XHTML, read with the stdlib html.parser."""
    MARKDOWN = "markdown"
    """Markdown, markup stripped lightly."""
    TEXT = "text"
    """Plain text in UTF-8 (or UTF-16 with a BOM, or clearly-text Latin-1)."""


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """Bounds on untrusted input; each is checked before the work it protects."""

    max_bytes: int = 20 * 1024 * 1024
    """Largest accepted input, in bytes."""
    max_pages: int = 500
    """Most pages read from a PDF; a longer PDF is refused, never cut silently."""
    max_chars: int = 5_000_000
    """Most characters of extracted text (guards against compressed-stream bombs)."""
    pdf_seconds: float = 10.0
    """Wall-clock bound on reading one PDF (in its own process; see _pdf_sandbox.py)."""
    pdf_memory_bytes: int = 1024 * 1024 * 1024
    """Address-space bound of the process reading one PDF."""

    def __post_init__(self) -> None:
        for field in ("max_bytes", "max_pages", "max_chars", "pdf_seconds", "pdf_memory_bytes"):
            if getattr(self, field) <= 0:
                msg = f"ExtractLimits.{field} must be > 0, got {getattr(self, field)}"
                raise InvalidOptions(msg)


DEFAULT_LIMITS = ExtractLimits()

_SNIFF_BYTES = 8192
_PDF_MAGIC_WINDOW = 1024  # the PDF spec lets the header start within the first 1 KiB

# Signatures of common formats we refuse, so the error names what was sent.
_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "ZIP archive (docx/xlsx/odt/epub?)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE2 file (legacy doc/xls/ppt?)"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"\x1f\x8b", "gzip archive"),
    (b"\x7fELF", "ELF executable"),
    (b"{\\rtf", "RTF document"),
    (b"%!PS", "PostScript document"),
)

_HTML_TYPES = {"text/html", "application/xhtml+xml"}
_MARKDOWN_TYPES = {"text/markdown", "text/x-markdown"}
_TEXT_TYPES = {"text/plain"}
_REFUSED_TYPE_PREFIXES = ("image/", "audio/", "video/", "font/", "model/")
_HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
_MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd"}
_TEXT_SUFFIXES = {".txt", ".text", ".log", ".csv", ".rst"}
_HTML_SNIFF = re.compile(rb"^\s*(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])", re.IGNORECASE)
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\x1b")


def detect_kind(data: bytes, filename: str | None = None, content_type: str | None = None) -> Kind:
    """Return the kind of `data`; raise UnsupportedDocument for binary or unknown formats."""
    head = data[:_SNIFF_BYTES]
    if b"%PDF-" in head[:_PDF_MAGIC_WINDOW]:
        return Kind.PDF
    for magic, label in _BINARY_MAGIC:
        if head.startswith(magic):
            msg = f"unsupported document: {label}"
            raise UnsupportedDocument(msg)

    mime = (content_type or "").split(";", 1)[0].strip().lower()
    suffix = PurePosixPath(filename or "").suffix.lower()
    if mime == "application/pdf" or suffix == ".pdf":
        msg = "declared as PDF but has no %PDF header"
        raise CorruptDocument(msg)
    if mime.startswith(_REFUSED_TYPE_PREFIXES):
        msg = f"unsupported document: content type {mime}"
        raise UnsupportedDocument(msg)
    if not _looks_like_text(head):
        label = f"content type {mime}" if mime else "binary data"
        msg = f"unsupported document: {label} is not text, PDF, HTML or Markdown"
        raise UnsupportedDocument(msg)

    if mime in _HTML_TYPES or suffix in _HTML_SUFFIXES:
        return Kind.HTML
    if mime in _MARKDOWN_TYPES or suffix in _MARKDOWN_SUFFIXES:
        return Kind.MARKDOWN
    if mime in _TEXT_TYPES or suffix in _TEXT_SUFFIXES:
        return Kind.TEXT
    if _HTML_SNIFF.match(head.removeprefix(codecs.BOM_UTF8)):
        return Kind.HTML
    return Kind.TEXT


def extract_text(
    data: bytes, kind: Kind, limits: ExtractLimits = DEFAULT_LIMITS, *, password: str | None = None
) -> str:
    """Return the plain text of a document of `kind`, whitespace tidied; `password` opens an encrypted PDF.

    Raises DocumentTooLarge, CorruptDocument, UnsupportedDocument or EmptyDocument.
    """
    if len(data) > limits.max_bytes:
        msg = f"document is {len(data)} bytes; the limit is {limits.max_bytes}"
        raise DocumentTooLarge(msg)
    match Kind(kind):
        case Kind.PDF:
            text = pdf_to_text_bounded(
                data,
                max_pages=limits.max_pages,
                max_chars=limits.max_chars,
                seconds=limits.pdf_seconds,
                memory_bytes=limits.pdf_memory_bytes,
                password=password,
            )
        case Kind.HTML:
            text = html_to_text(decode_text(data))
        case Kind.MARKDOWN:
            text = markdown_to_text(decode_text(data))
        case Kind.TEXT:
            text = decode_text(data)
    text = _tidy(text)
    if len(text) > limits.max_chars:
        msg = f"extracted text is {len(text)} characters; the limit is {limits.max_chars}"
        raise DocumentTooLarge(msg)
    if not text:
        msg = f"{Kind(kind).value} document holds no extractable text"
        raise EmptyDocument(msg)
    return text


def decode_text(data: bytes) -> str:
    """Decode text bytes: UTF-16 by BOM, else UTF-8, else Latin-1 only if it is clearly text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = data.decode("utf-16", errors="replace")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            if not _looks_like_text(data[:_SNIFF_BYTES]) or b"\x00" in data:
                msg = f"bytes are neither UTF-8 nor clearly Latin-1 text (bad byte at {exc.start})"
                raise UnsupportedDocument(msg) from exc
            text = data.decode("latin-1")
    if not _is_mostly_printable(text[:_SNIFF_BYTES]):
        msg = "decoded text is mostly control characters; this looks like binary data"
        raise UnsupportedDocument(msg)
    return text


def _looks_like_text(head: bytes) -> bool:
    """Heuristic on raw bytes: no NUL bytes, few control characters (BOM-marked UTF-16 passes)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    return b"\x00" not in head and _is_mostly_printable(head.decode("latin-1"))


def _is_mostly_printable(sample: str) -> bool:
    """At most 1% control characters (tabs, newlines and escapes allowed; U+FFFD counts)."""
    bad = sum(1 for ch in sample if (ord(ch) < 0x20 and ch not in _ALLOWED_CONTROLS) or ch == "\ufffd")
    return bad * 100 <= len(sample)


_SPACES = re.compile(r"[^\S\n]+")
_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """Normalise newlines, collapse spaces inside lines and runs of blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()
