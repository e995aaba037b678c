"""The llm service: llm.chat.requested -> completed | failed.

Backends come from LLMSettings (workers/llm/settings.py), read when the service starts:
AIWF_LLM_URL (+ AIWF_LLM_MODEL, AIWF_LLM_API_KEY) is the primary OpenAI-compatible server;
AIWF_LLM_FALLBACK_URL (+ _MODEL, _API_KEY) the fallback. With no URL at all the service
answers with the extractive summarizer, which picks sentences from the input and says so
in `backend` — it is not a language model.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import SecretStr

from aiwf.bus import BackendUnavailable, Context, Subscription
from aiwf.bus.backoff import Backoff
from aiwf.bus.breaker import DEFAULT_COOL_DOWN
from aiwf.bus.worker import Service, Startup
from aiwf.schemas import Event
from aiwf.schemas.events.llm import ChatCompleted, ChatFailed, ChatRequested, Usage
from aiwf.workers.llm import BackendUnavailable as LLMUnavailable
from aiwf.workers.llm import (
    ChatBackend,
    ChatRequest,
    CircuitBreaker,
    ExtractiveSummarizer,
    FallbackRouter,
    OpenAIChatBackend,
    PermanentLLMError,
)
from aiwf.workers.llm.settings import LLMSettings


def backend_from(settings: LLMSettings) -> ChatBackend:
    """Primary and fallback from `settings`; the extractive summarizer when none is configured."""
    primary = _remote("primary", settings.url, settings.api_key, settings.model, settings)
    fallback = _remote("fallback", settings.fallback_url, settings.fallback_api_key, settings.fallback_model, settings)
    if primary is None:
        return fallback or ExtractiveSummarizer()
    cool_down = Backoff(settings.breaker_reset_s, max(settings.breaker_reset_s, DEFAULT_COOL_DOWN.max_s), jitter="none")
    breaker = CircuitBreaker(settings.breaker_failures, cool_down)
    return FallbackRouter(primary, fallback or ExtractiveSummarizer(), breaker=breaker)


def _remote(
    name: str, url: str | None, key: SecretStr | None, model: str, settings: LLMSettings
) -> OpenAIChatBackend | None:
    if not url:
        return None
    secret = key.get_secret_value() if key else None
    return OpenAIChatBackend(name, url, secret, model, timeout_s=settings.timeout_s, max_retries=settings.max_retries)


@dataclass(frozen=True)
class Deps:
    """What the handler uses, built once when the service starts (a lifespan will yield it)."""

    backend: ChatBackend


llm = Subscription(stream="llm", group="llm", batch=8, concurrency=8)
deps: Deps | None = None


async def startup() -> None:
    """Read AIWF_LLM_* and build the backends: at start, never at import; ConfigError names a bad variable."""
    global deps  # noqa: PLW0603 - one per process until the service lifespan yields it
    deps = Deps(backend_from(LLMSettings.from_env()))


async def shutdown() -> None:
    """Close the backends' HTTP clients."""
    global deps  # noqa: PLW0603 - see startup
    if deps is not None:
        await deps.backend.aclose()
        deps = None


def _started() -> Deps:
    if deps is None:
        raise RuntimeError("the llm service is not started: its lifespan (startup()) builds its backends")
    return deps


@llm.handler
async def on_chat_requested(event: ChatRequested, ctx: Context) -> list[Event]:
    """Run the completion; a backend outage pauses the subscription, a refused request is `failed`."""
    try:
        request = ChatRequest.of(
            [m.model_dump() for m in event.messages],
            model=event.model,
            temperature=event.temperature,
            max_tokens=event.max_tokens,
        )
        result = await _started().backend.complete(request)
    except PermanentLLMError as exc:
        return [ChatFailed(request_id=event.request_id, reason=str(exc))]
    except LLMUnavailable as exc:
        raise BackendUnavailable(f"llm backend down: {exc}") from exc
    return [
        ChatCompleted(
            request_id=event.request_id,
            text=result.text,
            backend=result.backend,
            model=result.model,
            usage=Usage(**result.usage.as_dict()),
        )
    ]


@contextlib.asynccontextmanager
async def lifespan(_: Startup) -> AsyncIterator[Deps]:
    """Settings read and resources built when the worker starts; the handlers' deps."""
    await startup()
    yield _started()
    await shutdown()


SERVICE = Service(name="llm", subscriptions=[llm], lifespan=lifespan)
