"""pipeline: the document-summary workflow's own fact, emitted when every step is done."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aiwf.schemas.base import Event
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.registry import event


@event("pipeline.summary.completed", version=1)
class SummaryCompleted(Event):
    """A document was summarized and the summary spoken."""

    document_id: Annotated[str, Field(min_length=1, max_length=128)]
    audio: BlobRef
    duration_s: Annotated[float, Field(ge=0)]
