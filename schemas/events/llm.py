"""llm: chat completions requested, completed (v2: with why it ended), failed, and streamed in deltas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from aiwf.schemas.base import Event
from aiwf.schemas.registry import event, upcaster

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
class ChatRequestedV1(Event):
    """v1: no streaming."""

    request_id: RequestId
    messages: Annotated[list[Message], Field(min_length=1, max_length=200)]
    model: Annotated[str, Field(max_length=200)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.2
    max_tokens: Annotated[int, Field(ge=1, le=32_000)] = 512


@event("llm.chat.requested", version=2)
class ChatRequested(Event):
    """A chat completion to run; `model` None means the service's default.

    `stream`: ask the backend for a streamed completion and publish its text as it comes, in
    `llm.chat.streamed` events on the `llm_deltas` stream (for a gateway's server-sent events).
    """

    request_id: RequestId
    messages: Annotated[list[Message], Field(min_length=1, max_length=200)]
    model: Annotated[str, Field(max_length=200)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.2
    max_tokens: Annotated[int, Field(ge=1, le=32_000)] = 512
    stream: bool = False


@upcaster("llm.chat.requested", from_version=1)
def _requested_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "stream": False}


class ToolCall(BaseModel):
    """One function call the model asked for instead of (or beside) answering in text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Annotated[str, Field(max_length=200)]
    name: Annotated[str, Field(max_length=200)]
    #: The call's arguments as the model wrote them: JSON text, not checked here.
    arguments: Annotated[str, Field(max_length=100_000)]


@event("llm.chat.completed", version=1)
class ChatCompletedV1(Event):
    """v1: the text only, nothing saying why the completion ended."""

    request_id: RequestId
    text: str
    usage: Usage
    backend: Annotated[str, Field(max_length=100)]
    model: Annotated[str, Field(max_length=200)]


@event("llm.chat.completed", version=2)
class ChatCompleted(Event):
    """The completion, which backend produced it, and why it ended.

    `finish_reason` as the backend said it (stop, length = cut at max_tokens, tool_calls,
    content_filter; None when it said nothing); `refusal` the model's refusal text, if it
    refused; `tool_calls` the calls it asked for. An empty `text` is possible and legal.
    """

    request_id: RequestId
    text: str
    usage: Usage
    backend: Annotated[str, Field(max_length=100)]
    model: Annotated[str, Field(max_length=200)]
    finish_reason: Annotated[str, Field(max_length=64)] | None = None
    refusal: Annotated[str, Field(max_length=20_000)] | None = None
    tool_calls: Annotated[list[ToolCall], Field(default_factory=list, max_length=128)]


@upcaster("llm.chat.completed", from_version=1)
def _completed_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "finish_reason": None, "refusal": None, "tool_calls": []}


@event("llm.chat.failed", version=1)
class ChatFailed(Event):
    """The request was refused by the backend (bad request), not a transient outage."""

    request_id: RequestId
    reason: Annotated[str, Field(max_length=2000)]


#: The stream (topic) deltas go to, apart from the llm domain stream its groups read.
DELTA_STREAM = "llm_deltas"
#: The most characters one delta carries (a longer burst is split over several).
MAX_DELTA_CHARS = 4000


@event("llm.chat.streamed", version=1)
class ChatDelta(Event):
    """A piece of a streamed completion's text, published as it arrives (not committed: progress).

    `seq` counts from 0 within one `attempt` (the request's delivery count): a consumer
    concatenates the text of one attempt in `seq` order, and starts over when a higher attempt
    begins (a redelivered request streams again from its start). `llm.chat.completed` remains
    the one fact: it carries the whole text.
    """

    request_id: RequestId
    attempt: Annotated[int, Field(ge=1, le=10_000)]
    seq: Annotated[int, Field(ge=0, le=1_000_000)]
    text: Annotated[str, Field(max_length=MAX_DELTA_CHARS)]
