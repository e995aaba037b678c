"""The llm service: llm.chat.requested -> completed | failed.

Backends come from the environment: AIWF_LLM_URL (+ AIWF_LLM_MODEL, AIWF_LLM_API_KEY) is
the primary OpenAI-compatible server; AIWF_LLM_FALLBACK_URL (+ _MODEL, _API_KEY) the
fallback. With no URL at all the service answers with the extractive summarizer, which
picks sentences from the input and says so in `backend` — it is not a language model.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from aiwf.bus import BackendUnavailable, Context, Subscription
from aiwf.bus.worker import Service, Startup
from aiwf.schemas import Event
from aiwf.schemas.events.llm import ChatCompleted, ChatFailed, ChatRequested, Usage
from aiwf.workers.llm import BackendUnavailable as LLMUnavailable
from aiwf.workers.llm import (
    ChatBackend,
    ChatRequest,
    ExtractiveSummarizer,
    FallbackRouter,
    OpenAIChatBackend,
    PermanentLLMError,
)


def backend_from_env() -> ChatBackend:
    """Primary and fallback from AIWF_LLM_*; the extractive summarizer when none is configured."""
    primary = _remote("primary", "AIWF_LLM")
    fallback = _remote("fallback", "AIWF_LLM_FALLBACK") or ExtractiveSummarizer()
    return FallbackRouter(primary, fallback) if primary else fallback


def _remote(name: str, prefix: str) -> OpenAIChatBackend | None:
    url = os.environ.get(f"{prefix}_URL")
    if not url:
        return None
    return OpenAIChatBackend(
        name, url, os.environ.get(f"{prefix}_API_KEY"), os.environ.get(f"{prefix}_MODEL", "default"),
        timeout_s=float(os.environ.get("AIWF_LLM_TIMEOUT", "60")),
    )


llm = Subscription(stream="llm", group="llm", batch=8, concurrency=8)
backend = backend_from_env()


@llm.handler
async def on_chat_requested(event: ChatRequested, ctx: Context) -> list[Event]:
    """Run the completion; a backend outage pauses the subscription, a refused request is `failed`."""
    try:
        request = ChatRequest.of(
            [m.model_dump() for m in event.messages],
            model=event.model, temperature=event.temperature, max_tokens=event.max_tokens,
        )
        result = await backend.complete(request)
    except PermanentLLMError as exc:
        return [ChatFailed(request_id=event.request_id, reason=str(exc))]
    except LLMUnavailable as exc:
        raise BackendUnavailable(f"llm backend down: {exc}") from exc
    return [ChatCompleted(
        request_id=event.request_id, text=result.text, backend=result.backend, model=result.model,
        usage=Usage(**result.usage.as_dict()),
    )]


@contextlib.asynccontextmanager
async def lifespan(startup: Startup) -> AsyncIterator[None]:
    """The backend's HTTP connections live as long as the worker."""
    try:
        yield None
    finally:
        await backend.aclose()


SERVICE = Service(name="llm", subscriptions=[llm], lifespan=lifespan)
