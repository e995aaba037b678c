"""LLM engine: chat completions from a remote model, with a breaker and an honest fallback.

Files in data-path order: chat.py (ChatRequest, ChatResult, Usage, the ChatBackend
Protocol), router.py (FallbackRouter) guarded by aiwf.bus.breaker (CircuitBreaker),
backends.py (OpenAIChatBackend over httpx, its GET /models health check, reading SSE with
_sse.py and the wire format with _wire.py), deltas.py (streamed text as bounded
llm.chat.streamed events), extractive.py (ExtractiveSummarizer: no model, picks sentences),
errors.py. testing_server.py (+ _testing_http.py) runs a real chat-completions server for
tests and demos.
No Redis; from the bus only the circuit breaker and its Backoff.
"""

from aiwf.bus.breaker import BreakerState, CircuitBreaker
from aiwf.workers.llm.backends import OpenAIChatBackend
from aiwf.workers.llm.chat import (
    ChatBackend,
    ChatMessage,
    ChatRequest,
    ChatResult,
    DeltaCallback,
    Role,
    Usage,
    whitespace_tokens,
)
from aiwf.workers.llm.errors import (
    BackendUnavailable,
    InvalidChatRequest,
    InvalidResponse,
    LLMConfigError,
    LLMError,
    PermanentLLMError,
)
from aiwf.workers.llm.extractive import ExtractiveSummarizer, split_sentences, summarize
from aiwf.workers.llm.router import FallbackRouter

__all__ = [
    "BackendUnavailable",
    "BreakerState",
    "ChatBackend",
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "CircuitBreaker",
    "DeltaCallback",
    "ExtractiveSummarizer",
    "FallbackRouter",
    "InvalidChatRequest",
    "InvalidResponse",
    "LLMConfigError",
    "LLMError",
    "OpenAIChatBackend",
    "PermanentLLMError",
    "Role",
    "Usage",
    "split_sentences",
    "summarize",
    "whitespace_tokens",
]
