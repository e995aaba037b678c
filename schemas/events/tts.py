"""tts: speech requested, synthesized into a WAV blob, or rejected."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aiwf.schemas.base import Event
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.registry import event

RequestId = Annotated[str, Field(min_length=1, max_length=200)]
#: Longest text a request may carry; the engine speaks all of it, in pieces, into one WAV.
MAX_SPEECH_CHARS = 20_000


@event("tts.speech.requested", version=1)
class SpeechRequested(Event):
    """Text to speak with an espeak-ng voice at a rate in words per minute."""

    request_id: RequestId
    text: Annotated[str, Field(min_length=1, max_length=MAX_SPEECH_CHARS)]
    voice: Annotated[str, Field(max_length=64)] = "en"
    rate_wpm: Annotated[int, Field(ge=80, le=450)] = 175


@event("tts.speech.synthesized", version=1)
class SpeechSynthesized(Event):
    """The spoken WAV, stored as a blob."""

    request_id: RequestId
    audio: BlobRef
    duration_s: Annotated[float, Field(ge=0)]
    sample_rate: Annotated[int, Field(gt=0)]
    voice: Annotated[str, Field(max_length=64)]


@event("tts.speech.rejected", version=1)
class SpeechRejected(Event):
    """The request can never be spoken (unknown voice, text too long)."""

    request_id: RequestId
    code: Annotated[str, Field(max_length=64)]
    reason: Annotated[str, Field(max_length=2000)]
