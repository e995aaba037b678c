"""pipeline: how a document-summary run ended — completed (summarized and spoken) or failed at one step."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aiwf.schemas.base import Event
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.registry import event

DocumentId = Annotated[str, Field(min_length=1, max_length=128)]


@event("pipeline.summary.completed", version=1)
class SummaryCompleted(Event):
    """A document was summarized and the summary spoken."""

    document_id: DocumentId
    audio: BlobRef
    duration_s: Annotated[float, Field(ge=0)]


@event("pipeline.summary.failed", version=1)
class SummaryFailed(Event):
    """A run ended without a spoken summary: `step` failed or did not answer before its deadline.

    `code` is machine-readable: the failing service's own code (e.g. UnknownVoice), ChatFailed,
    EmptyAnswer, or DeadlineExceeded when the step was late.
    """

    document_id: DocumentId
    step: Literal["documents", "llm", "tts"]
    code: Annotated[str, Field(max_length=64)]
    reason: Annotated[str, Field(max_length=2000)]
