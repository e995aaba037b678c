"""The documents service: documents.document.uploaded -> processed | rejected.

Chunking and the size limit come from DocumentsSettings (AIWF_CHUNK_*, AIWF_MAX_DOCUMENT_BYTES),
read when the service starts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiwf.bus import Context, PermanentError, Subscription
from aiwf.bus.blobs import BlobError, FileBlobStore, store_for
from aiwf.bus.codec import to_json
from aiwf.bus.worker import Service, Startup
from aiwf.schemas import Event
from aiwf.schemas.events.documents import Chunk, DocumentProcessed, DocumentRejected, DocumentUploaded
from aiwf.workers.documents import Chunk as TextChunk
from aiwf.workers.documents import DocumentError, chunk_text, detect_kind, extract_text
from aiwf.workers.documents.settings import DocumentsSettings

#: Chunks whose text adds up past this travel as a JSON blob, not inside the event.
INLINE_CHUNK_CHARS = 100_000


@dataclass(frozen=True)
class Deps:
    """What the handler uses, built when the service starts and yielded by its lifespan."""

    settings: DocumentsSettings
    blobs: FileBlobStore


documents = Subscription(stream="documents", group="documents", batch=16, concurrency=4)


@documents.handler
async def on_uploaded(event: DocumentUploaded, ctx: Context) -> list[Event]:
    """Extract and chunk; a document that can never be read becomes `rejected`, not a retry."""
    deps = ctx.dep(Deps)
    try:
        data = _content(event, deps.blobs)
        # pypdf and the parsers are blocking CPU work: off the loop, so leases keep renewing.
        kind, text, chunks = await asyncio.to_thread(_extract, data, event, deps.settings)
    except DocumentError as exc:
        return [DocumentRejected(document_id=event.document_id, code=type(exc).__name__, reason=str(exc))]
    models = [Chunk(index=c.index, start=c.start, end=c.end, text=c.text) for c in chunks]
    inline = sum(len(c.text) for c in chunks) <= INLINE_CHUNK_CHARS
    blob = None if inline else deps.blobs.put(to_json([m.model_dump() for m in models]), "application/json")
    return [
        DocumentProcessed(
            document_id=event.document_id,
            kind=kind,
            chars=len(text),
            chunk_count=len(models),
            chunks=models if inline else None,
            chunks_blob=blob,
        )
    ]


def _content(event: DocumentUploaded, blobs: FileBlobStore) -> bytes:
    if event.text is not None:
        return event.text.encode()
    if event.content_base64 is not None:
        try:
            return base64.b64decode(event.content_base64, validate=True)
        except ValueError as exc:  # binascii.Error, or a non-ASCII character
            raise PermanentError(f"content_base64 is not valid base64: {exc}") from None
    assert event.blob is not None  # noqa: S101 - type narrowing: the model guarantees exactly one source
    try:
        return blobs.get(event.blob)
    except BlobError as exc:
        raise PermanentError(f"document blob unreadable: {exc}") from None


def _extract(data: bytes, event: DocumentUploaded, settings: DocumentsSettings) -> tuple[str, str, list[TextChunk]]:
    kind = detect_kind(data, event.filename, event.content_type)
    password = event.password.get_secret_value() if event.password is not None else None
    text = extract_text(data, kind, settings.limits, password=password)
    return kind.value, text, chunk_text(text, settings.chunk_size, settings.chunk_overlap)


@contextlib.asynccontextmanager
async def lifespan(startup: Startup) -> AsyncIterator[Deps]:
    """Read DocumentsSettings when the worker starts (ConfigError names a bad variable); the handlers' deps."""
    yield Deps(DocumentsSettings.from_env(), store_for(startup.config))


SERVICE = Service(name="documents", subscriptions=[documents], lifespan=lifespan)
