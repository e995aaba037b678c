"""PDF to text with pypdf, translating its many failure modes into CorruptDocument."""

from __future__ import annotations

import io
import logging
import threading

from pypdf import PdfReader
from pypdf.errors import (
    DependencyError,
    FileNotDecryptedError,
    PyPdfError,
)

from aiwf.workers.documents.errors import CorruptDocument, DocumentTooLarge, EmptyDocument

__all__ = ["pdf_to_text"]

# pypdf parses untrusted bytes and can fail with almost any builtin exception on a
# malformed file (KeyError, ValueError, RecursionError...); all of them mean "corrupt".
_PARSE_FAILURES = (
    PyPdfError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    AssertionError,
    RecursionError,
    OverflowError,
    ZeroDivisionError,
    UnicodeError,
)


def pdf_to_text(data: bytes, *, max_pages: int, max_chars: int, password: str | None = None) -> str:
    """Return the text of every page, pages separated by blank lines; `password` opens an encrypted one."""
    # pypdf logs every defect it recovers from; a recovered file is a success here, but
    # those complaints explain a PDF that yields no text at all, so keep this thread's.
    complaints = _Complaints()
    logger = logging.getLogger("pypdf")
    logger.addHandler(complaints)
    try:
        text = _read(data, max_pages=max_pages, max_chars=max_chars, password=password)
    finally:
        logger.removeHandler(complaints)
    if not text.strip() and complaints.messages:
        msg = f"PDF yields no readable text; pypdf reported: {'; '.join(complaints.messages[:3])}"
        raise CorruptDocument(msg)
    return text


class _Complaints(logging.Handler):
    """Collects the first few warnings pypdf logs in this thread while it reads one file.

    The thread filter matters: the documents service parses in worker threads, and
    another file's complaints must not be blamed on this one.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread and len(self.messages) < 10:
            self.messages.append(" ".join(record.getMessage().split())[:200])


def _read(data: bytes, *, max_pages: int, max_chars: int, password: str | None) -> str:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        _unlock(reader, password)
        page_count = len(reader.pages)
    except CorruptDocument:
        raise
    except _PARSE_FAILURES as exc:
        msg = f"PDF cannot be parsed: {_reason(exc)}"
        raise CorruptDocument(msg) from exc
    if page_count == 0:
        msg = "PDF has no pages"
        raise EmptyDocument(msg)
    if page_count > max_pages:
        msg = f"PDF has {page_count} pages; the limit is {max_pages}"
        raise DocumentTooLarge(msg)

    pages: list[str] = []
    total = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            text = page.extract_text() or ""
        except _PARSE_FAILURES as exc:
            msg = f"PDF page {number} cannot be read: {_reason(exc)}"
            raise CorruptDocument(msg) from exc
        total += len(text)
        if total > max_chars:
            msg = f"PDF text passes {max_chars} characters by page {number}"
            raise DocumentTooLarge(msg)
        pages.append(text)
    return "\n\n".join(pages)


def _unlock(reader: PdfReader, password: str | None) -> None:
    """Open an encrypted PDF with `password` (else the empty user password); refuse it when that fails."""
    if not reader.is_encrypted:
        return
    try:
        opened = reader.decrypt(password or "")
    except DependencyError as exc:
        msg = f"PDF is encrypted with an unsupported cipher: {_reason(exc)}"
        raise CorruptDocument(msg) from exc
    except (FileNotDecryptedError, *_PARSE_FAILURES) as exc:
        msg = f"PDF is encrypted and cannot be opened: {_reason(exc)}"
        raise CorruptDocument(msg) from exc
    if not opened:
        msg = (
            "PDF is encrypted and the password given does not open it"
            if password
            else ("PDF is encrypted with a password; send it in the upload's `password` field")
        )
        raise CorruptDocument(msg)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
