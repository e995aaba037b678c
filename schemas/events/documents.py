"""documents: a document arrives, its text is extracted and chunked, or it is rejected."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aiwf.schemas.base import Event
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.registry import event, upcaster
from aiwf.schemas.secrets import Secret

#: Inline content above this travels as a blob reference instead (claim check).
MAX_INLINE_CHARS = 200_000
DocumentId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")]


@event("documents.document.uploaded", version=1)
class DocumentUploadedV1(Event):
    """v1: no password (an encrypted PDF could only be opened with an empty one)."""

    document_id: DocumentId
    filename: Annotated[str, Field(max_length=255)] | None = None
    content_type: Annotated[str, Field(max_length=255)] | None = None
    text: Annotated[str, Field(max_length=MAX_INLINE_CHARS)] | None = None
    content_base64: Annotated[str, Field(max_length=MAX_INLINE_CHARS)] | None = None
    blob: BlobRef | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Self:
        given = [n for n in ("text", "content_base64", "blob") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of text, content_base64, blob (got {', '.join(given) or 'none'})")
        return self


@event("documents.document.uploaded", version=2)
class DocumentUploaded(Event):
    """A document to process: inline text, inline base64 bytes, or a blob reference (exactly one).

    `password` opens an encrypted PDF; it is sealed for the documents service on the wire.
    """

    document_id: DocumentId
    filename: Annotated[str, Field(max_length=255)] | None = None
    content_type: Annotated[str, Field(max_length=255)] | None = None
    text: Annotated[str, Field(max_length=MAX_INLINE_CHARS)] | None = None
    content_base64: Annotated[str, Field(max_length=MAX_INLINE_CHARS)] | None = None
    blob: BlobRef | None = None
    password: Annotated[Secret, Field(max_length=12_000)] | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Self:
        given = [n for n in ("text", "content_base64", "blob") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of text, content_base64, blob (got {', '.join(given) or 'none'})")
        return self


@upcaster("documents.document.uploaded", from_version=1)
def _uploaded_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "password": None}


class Chunk(BaseModel):
    """One piece of extracted text, with its character span in the whole."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: Annotated[int, Field(ge=0, le=1_000_000)]
    start: Annotated[int, Field(ge=0)]
    end: Annotated[int, Field(ge=0)]
    text: str


@event("documents.document.processed", version=1)
class DocumentProcessed(Event):
    """Text extracted and chunked; chunks inline when small, else in a JSON blob."""

    document_id: DocumentId
    kind: Annotated[str, Field(max_length=32)]
    chars: Annotated[int, Field(ge=0)]
    chunk_count: Annotated[int, Field(ge=0)]
    chunks: list[Chunk] | None = None
    chunks_blob: BlobRef | None = None


@event("documents.document.rejected", version=1)
class DocumentRejected(Event):
    """The document cannot be processed; `code` is machine-readable, `reason` is for people."""

    document_id: DocumentId
    code: Annotated[str, Field(max_length=64)]
    reason: Annotated[str, Field(max_length=2000)]
