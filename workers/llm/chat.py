"""The chat contract every backend speaks: request, result, usage, and the backend Protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias, get_args

from aiwf.workers.llm.errors import InvalidChatRequest

__all__ = [
    "MAX_MESSAGES",
    "MAX_PROMPT_CHARS",
    "ChatBackend",
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "DeltaCallback",
    "Role",
    "ToolCall",
    "Usage",
    "whitespace_tokens",
]

Role: TypeAlias = Literal["system", "user", "assistant"]
"""Who wrote a message, as in the OpenAI chat-completions protocol."""

DeltaCallback: TypeAlias = Callable[[str], Awaitable[None]]
"""Receives each text fragment of a streamed completion, in order."""

MAX_MESSAGES = 1_000
MAX_PROMPT_CHARS = 2_000_000
_ROLES = frozenset(get_args(Role))


def whitespace_tokens(text: str) -> int:
    """Count whitespace-separated words: the honest token count for non-model backends."""
    return len(text.split())


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of a conversation."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            msg = f"message role must be one of {sorted(_ROLES)}, got {self.role!r}"
            raise InvalidChatRequest(msg)
        if not isinstance(self.content, str):
            msg = f"message content must be a string, got {type(self.content).__name__}"
            raise InvalidChatRequest(msg)

    @classmethod
    def of(cls, raw: Mapping[str, Any] | ChatMessage) -> ChatMessage:
        """Build a message from a `{"role", "content"}` mapping (or return it unchanged)."""
        if isinstance(raw, ChatMessage):
            return raw
        if not isinstance(raw, Mapping) or "role" not in raw or "content" not in raw:
            msg = f"a message needs 'role' and 'content', got {raw!r:.80}"
            raise InvalidChatRequest(msg)
        return cls(role=raw["role"], content=raw["content"])


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat completion request; `model=None` means the backend's configured model."""

    messages: tuple[ChatMessage, ...]
    model: str | None = None
    temperature: float = 0.2
    max_tokens: int | None = None
    stream: bool = False

    def __post_init__(self) -> None:
        messages = tuple(ChatMessage.of(m) for m in self.messages)
        object.__setattr__(self, "messages", messages)
        if not messages:
            msg = "a chat request needs at least one message"
            raise InvalidChatRequest(msg)
        if len(messages) > MAX_MESSAGES:
            msg = f"a chat request holds at most {MAX_MESSAGES} messages, got {len(messages)}"
            raise InvalidChatRequest(msg)
        chars = sum(len(m.content) for m in messages)
        if chars > MAX_PROMPT_CHARS:
            msg = f"prompt is {chars} characters; the limit is {MAX_PROMPT_CHARS}"
            raise InvalidChatRequest(msg)
        if isinstance(self.temperature, bool) or not isinstance(self.temperature, int | float):
            msg = f"temperature must be a number, got {type(self.temperature).__name__}"
            raise InvalidChatRequest(msg)
        if not 0.0 <= self.temperature <= 2.0:
            msg = f"temperature must be within [0, 2], got {self.temperature}"
            raise InvalidChatRequest(msg)
        if self.max_tokens is not None and (not isinstance(self.max_tokens, int) or self.max_tokens < 1):
            msg = f"max_tokens must be >= 1, got {self.max_tokens}"
            raise InvalidChatRequest(msg)

    @classmethod
    def of(cls, messages: Iterable[Mapping[str, Any] | ChatMessage], **options: Any) -> ChatRequest:
        """Build a request from `[{"role": ..., "content": ...}, ...]` plus options."""
        return cls(messages=tuple(ChatMessage.of(m) for m in messages), **options)

    def prompt_tokens(self) -> int:
        """Whitespace token count of every message."""
        return sum(whitespace_tokens(m.content) for m in self.messages)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token accounting of one completion."""

    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False
    """True when counted here (whitespace tokens) rather than reported by a model."""
    total_tokens: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total_tokens", self.prompt_tokens + self.completion_tokens)

    def as_dict(self) -> dict[str, int]:
        """The OpenAI-style usage mapping."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call the model asked for; `arguments` is its JSON text, as the model wrote it."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A finished completion, who produced it, and why it ended."""

    text: str
    usage: Usage
    backend: str
    """Name of the backend that answered (after any fallback)."""
    model: str
    finish_reason: str | None = None
    """stop, length (cut at max_tokens), tool_calls, content_filter; None when the backend said nothing."""
    refusal: str | None = None
    """The model's refusal text, when it refused instead of answering."""
    tool_calls: tuple[ToolCall, ...] = ()


class ChatBackend(Protocol):
    """Anything that turns a ChatRequest into a ChatResult.

    Contract: `complete` raises BackendUnavailable when the backend cannot answer
    now and PermanentLLMError when the request itself is refused; nothing else
    escapes for a backend failure. With `request.stream` and an `on_delta`
    callback, each text fragment is passed to it in order before the result returns.
    """

    @property
    def name(self) -> str:
        """A short stable name, reported in ChatResult.backend."""
        ...

    async def complete(self, request: ChatRequest, *, on_delta: DeltaCallback | None = None) -> ChatResult:
        """Return the completion of `request`."""
        ...

    async def health(self) -> str | None:
        """None when the backend answers a request that does not depend on any event, else why not."""
        ...

    async def aclose(self) -> None:
        """Release connections; the backend is unusable afterwards."""
        ...
