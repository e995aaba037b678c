"""The documents service's settings: chunking and the input size limit."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from aiwf.bus.settings import Settings
from aiwf.workers.documents import ExtractLimits

__all__ = ["DocumentsSettings"]


class DocumentsSettings(Settings):
    """How extracted text is cut into chunks, and the largest document read."""

    chunk_size: int = Field(1200, ge=1, validation_alias="AIWF_CHUNK_SIZE", description="most characters per chunk")
    chunk_overlap: int = Field(
        150,
        ge=0,
        validation_alias="AIWF_CHUNK_OVERLAP",
        description="characters consecutive chunks may share (< AIWF_CHUNK_SIZE)",
    )
    max_document_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1,
        validation_alias="AIWF_MAX_DOCUMENT_BYTES",
        description="largest document accepted; a bigger one is rejected",
    )

    pdf_timeout_s: float = Field(
        10.0,
        gt=0,
        validation_alias="AIWF_PDF_TIMEOUT",
        description="seconds the child process reading one PDF may take",
    )
    pdf_max_memory_mb: int = Field(
        1024,
        ge=16,
        validation_alias="AIWF_PDF_MAX_MEMORY_MB",
        description="address-space bound (MiB) of the child process reading one PDF",
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Self:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"AIWF_CHUNK_OVERLAP ({self.chunk_overlap}) must be < AIWF_CHUNK_SIZE ({self.chunk_size})")
        return self

    @property
    def limits(self) -> ExtractLimits:
        """The extractor's bounds with this document size limit."""
        return ExtractLimits(
            max_bytes=self.max_document_bytes,
            pdf_seconds=self.pdf_timeout_s,
            pdf_memory_bytes=self.pdf_max_memory_mb * 1024 * 1024,
        )
