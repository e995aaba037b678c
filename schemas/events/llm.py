"""llm: chat completions requested, completed, or failed."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiwf.schemas.base import Event
from aiwf.schemas.registry import event

RequestId = Annotated[str, Field(min_length=1, max_length=200)]


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: Annotated[str, Field(max_length=500_000)]


class Usage(BaseModel):
    """Token counts as the backend reported them (whitespace tokens for the extractive backend)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt_tokens: Annotated[int, Field(ge=0, le=10**9)]
    completion_tokens: Annotated[int, Field(ge=0, le=10**9)]
    total_tokens: Annotated[int, Field(ge=0, le=2 * 10**9)]


@event("llm.chat.requested", version=1)
class ChatRequested(Event):
    """A chat completion to run; `model` None means the service's default."""

    request_id: RequestId
    messages: Annotated[list[Message], Field(min_length=1, max_length=200)]
    model: Annotated[str, Field(max_length=200)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.2
    max_tokens: Annotated[int, Field(ge=1, le=32_000)] = 512


@event("llm.chat.completed", version=1)
class ChatCompleted(Event):
    """The completion, and which backend produced it."""

    request_id: RequestId
    text: str
    usage: Usage
    backend: Annotated[str, Field(max_length=100)]
    model: Annotated[str, Field(max_length=200)]


@event("llm.chat.failed", version=1)
class ChatFailed(Event):
    """The request was refused by the backend (bad request), not a transient outage."""

    request_id: RequestId
    reason: Annotated[str, Field(max_length=2000)]
