"""The documents service: documents.document.uploaded -> processed | rejected."""

from __future__ import annotations

import asyncio
import base64
import binascii
import os

from aiwf.bus import Context, PermanentError, Subscription
from aiwf.bus.blobs import BlobError, store_from_env
from aiwf.bus.codec import to_json
from aiwf.bus.config import BusConfig
from aiwf.bus.worker import Service
from aiwf.schemas import Event
from aiwf.schemas.events.documents import Chunk, DocumentProcessed, DocumentRejected, DocumentUploaded
from aiwf.workers.documents import Chunk as TextChunk
from aiwf.workers.documents import DocumentError, ExtractLimits, chunk_text, detect_kind, extract_text

CHUNK_SIZE = int(os.environ.get("AIWF_CHUNK_SIZE", "1200"))
CHUNK_OVERLAP = int(os.environ.get("AIWF_CHUNK_OVERLAP", "150"))
#: Chunks whose text adds up past this travel as a JSON blob, not inside the event.
INLINE_CHUNK_CHARS = 100_000
#: AIWF_PDF_TIMEOUT (s) and AIWF_PDF_MAX_MEMORY_MB bound the child process that reads each PDF.
LIMITS = ExtractLimits(
    max_bytes=int(os.environ.get("AIWF_MAX_DOCUMENT_BYTES", str(20 * 1024 * 1024))),
    pdf_seconds=float(os.environ.get("AIWF_PDF_TIMEOUT", "10")),
    pdf_memory_bytes=int(os.environ.get("AIWF_PDF_MAX_MEMORY_MB", "1024")) * 1024 * 1024,
)

documents = Subscription(stream="documents", group="documents", batch=16, concurrency=4)
blobs = store_from_env(BusConfig.from_env().data_dir)


@documents.handler
async def on_uploaded(event: DocumentUploaded, ctx: Context) -> list[Event]:
    """Extract and chunk; a document that can never be read becomes `rejected`, not a retry."""
    try:
        data = _content(event)
        # pypdf and the parsers are blocking CPU work: off the loop, so leases keep renewing.
        kind, text, chunks = await asyncio.to_thread(_extract, data, event)
    except DocumentError as exc:
        return [DocumentRejected(document_id=event.document_id, code=type(exc).__name__, reason=str(exc))]
    models = [Chunk(index=c.index, start=c.start, end=c.end, text=c.text) for c in chunks]
    inline = sum(len(c.text) for c in chunks) <= INLINE_CHUNK_CHARS
    return [DocumentProcessed(
        document_id=event.document_id, kind=kind, chars=len(text), chunk_count=len(models),
        chunks=models if inline else None,
        chunks_blob=None if inline else blobs.put(to_json([m.model_dump() for m in models]), "application/json"),
    )]


def _content(event: DocumentUploaded) -> bytes:
    if event.text is not None:
        return event.text.encode()
    if event.content_base64 is not None:
        try:
            return base64.b64decode(event.content_base64, validate=True)
        except binascii.Error as exc:
            raise PermanentError(f"content_base64 is not valid base64: {exc}") from None
    assert event.blob is not None  # the model guarantees exactly one source
    try:
        return blobs.get(event.blob)
    except BlobError as exc:
        raise PermanentError(f"document blob unreadable: {exc}") from None


def _extract(data: bytes, event: DocumentUploaded) -> tuple[str, str, list[TextChunk]]:
    kind = detect_kind(data, event.filename, event.content_type)
    password = event.password.get_secret_value() if event.password is not None else None
    text = extract_text(data, kind, LIMITS, password=password)
    return kind.value, text, chunk_text(text, CHUNK_SIZE, CHUNK_OVERLAP)


SERVICE = Service(name="documents", subscriptions=[documents])
