"""The llm service: llm.chat.requested -> completed | failed.

Backends come from LLMSettings (workers/llm/settings.py), read when the service starts:
AIWF_LLM_URL (+ AIWF_LLM_MODEL, AIWF_LLM_API_KEY) is the primary OpenAI-compatible server;
AIWF_LLM_FALLBACK_URL (+ _MODEL, _API_KEY) the fallback. With no URL at all the service
answers with the extractive summarizer, which picks sentences from the input and says so
in `backend` — it is not a language model.

Outage or poison: when every backend fails a request, the backends' health check (GET /models,
`probe`) decides. No backend answers: BackendUnavailable, the subscription pauses and probes
with the same check. One answers: the request itself keeps failing (a 5xx or a 429 for it
alone), so it is retried as its own failure and dead-lettered at max deliveries, while the
requests beside it complete.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from aiwf.bus import BackendUnavailable, Context, Publisher, Subscription
from aiwf.bus.backoff import Backoff
from aiwf.bus.breaker import DEFAULT_COOL_DOWN
from aiwf.bus.worker import Service, Startup
from aiwf.schemas import Event
from aiwf.schemas.events.llm import ChatCompleted, ChatFailed, ChatRequested, ToolCall, Usage
from aiwf.schemas.secretfile import read_secret_file
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
from aiwf.workers.llm.deltas import DeltaPublisher
from aiwf.workers.llm.errors import RequestFailing
from aiwf.workers.llm.settings import LLMSettings


def backend_from(settings: LLMSettings) -> ChatBackend:
    """Primary and fallback from `settings`; the extractive summarizer when none is configured."""
    primary_key = _key(settings.api_key, settings.api_key_file, "AIWF_LLM_API_KEY_FILE")
    fallback_key = _key(settings.fallback_api_key, settings.fallback_api_key_file, "AIWF_LLM_FALLBACK_API_KEY_FILE")
    primary = _remote("primary", settings.url, primary_key, settings.model, settings)
    fallback = _remote("fallback", settings.fallback_url, fallback_key, settings.fallback_model, settings)
    if primary is None:
        return fallback or ExtractiveSummarizer()
    cool_down = Backoff(settings.breaker_reset_s, max(settings.breaker_reset_s, DEFAULT_COOL_DOWN.max_s), jitter="none")
    breaker = CircuitBreaker(settings.breaker_failures, cool_down)
    return FallbackRouter(primary, fallback or ExtractiveSummarizer(), breaker=breaker)


def _key(value: SecretStr | None, file: Path | None, variable: str) -> SecretStr | None:
    """The API key from its variable, else from its secret file (permissions checked), else None."""
    if value is not None or file is None:
        return value
    return SecretStr(read_secret_file(file, variable))


def _remote(
    name: str, url: str | None, key: SecretStr | None, model: str, settings: LLMSettings
) -> OpenAIChatBackend | None:
    if not url:
        return None
    secret = key.get_secret_value() if key else None
    return OpenAIChatBackend(name, url, secret, model, timeout_s=settings.timeout_s, max_retries=settings.max_retries)


@dataclass(frozen=True)
class Deps:
    """What the handler uses, built when the service starts and yielded by its lifespan."""

    backend: ChatBackend
    publisher: Publisher


llm = Subscription(stream="llm", group="llm", batch=8, concurrency=8)


@llm.handler
async def on_chat_requested(event: ChatRequested, ctx: Context) -> list[Event]:
    """Run the completion; a backend outage pauses the subscription, a refused request is `failed`."""
    deps = ctx.dep(Deps)
    deltas = DeltaPublisher(deps.publisher, event.request_id, ctx.deliveries, ctx.envelope.correlation_id)
    try:
        request = ChatRequest.of(
            [m.model_dump() for m in event.messages],
            model=event.model,
            temperature=event.temperature,
            max_tokens=event.max_tokens,
            stream=event.stream,
        )
        result = await deps.backend.complete(request, on_delta=deltas.on_delta if event.stream else None)
    except PermanentLLMError as exc:
        return [ChatFailed(request_id=event.request_id, reason=str(exc))]
    except LLMUnavailable as exc:
        raise await _classified(deps.backend, exc) from exc
    await deltas.flush()
    return [
        ChatCompleted(
            request_id=event.request_id,
            text=result.text,
            backend=result.backend,
            model=result.model,
            usage=Usage(**result.usage.as_dict()),
            finish_reason=result.finish_reason,
            refusal=result.refusal,
            tool_calls=[ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in result.tool_calls],
        )
    ]


async def _classified(backend: ChatBackend, exc: LLMUnavailable) -> Exception:
    """An outage when no backend answers its health check; else this request's own failure."""
    down = await backend.health()
    if down is None:
        return RequestFailing(f"every backend failed this request while answering its health check: {exc}")
    return BackendUnavailable(f"llm backend down: {exc} (health: {down})")


async def probe(deps: Deps) -> str | None:
    """The backends' health (GET /models), independent of any request: the service's outage probe."""
    return await deps.backend.health()


@contextlib.asynccontextmanager
async def lifespan(startup: Startup) -> AsyncIterator[Deps]:
    """Read AIWF_LLM_* and build the backends when the worker starts; close them after the last commit."""
    backend = backend_from(LLMSettings.from_env())
    try:
        yield Deps(backend, Publisher(startup.client, startup.config))
    finally:
        await backend.aclose()


SERVICE = Service(name="llm", subscriptions=[llm], lifespan=lifespan, probe=probe)
