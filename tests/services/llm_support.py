"""The llm service run as its worker runs it, against real chat-completions servers: shared fixtures."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import pytest
import redis.asyncio as aioredis
from service_support import envelopes, serving, set_env

from aiwf.bus import Publisher
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.bus.worker import Worker
from aiwf.schemas import Envelope
from aiwf.schemas.events.llm import ChatRequested, Message
from aiwf.workers.llm.service import SERVICE

ARTICLE = (
    "Redis streams keep an append-only log of entries. Consumer groups share a stream between workers. "
    "Every entry must be acknowledged after it is processed. Unacknowledged entries stay pending. "
    "A crashed worker's pending entries can be claimed by another worker."
)

LLM_ENV: dict[str, str | None] = {
    "AIWF_LLM_URL": None,
    "AIWF_LLM_MODEL": None,
    "AIWF_LLM_API_KEY": None,
    "AIWF_LLM_FALLBACK_URL": None,
    "AIWF_LLM_FALLBACK_MODEL": None,
    "AIWF_LLM_FALLBACK_API_KEY": None,
    "AIWF_LLM_TIMEOUT": "5",
}
Serve = Callable[[dict[str, str | None]], AbstractAsyncContextManager[Worker]]


@pytest.fixture
def llm_service(monkeypatch: pytest.MonkeyPatch, config: BusConfig) -> Serve:
    """Runs the llm service as its worker does, under a given AIWF_LLM_* environment (read when it starts)."""

    def serve(env: dict[str, str | None]) -> AbstractAsyncContextManager[Worker]:
        set_env(monkeypatch, LLM_ENV | env)
        return serving(SERVICE, config)

    return serve


def request(request_id: str, text: str = ARTICLE, **options: object) -> ChatRequested:
    """A summary request in the shape the pipeline sends."""
    return ChatRequested(
        request_id=request_id,
        messages=[
            Message(role="system", content="Summarize the following document."),
            Message(role="user", content=text),
        ],
        **options,
    )


async def ask(client: aioredis.Redis, config: BusConfig, request_id: str) -> Envelope:
    """Publish one request and wait for its llm.chat.completed (the consumer must be running)."""
    await Publisher(client, config).publish(request(request_id))
    return await ask_existing(client, request_id)


async def completed(client: aioredis.Redis) -> list[Envelope]:
    """Every llm.chat.completed so far."""
    return await envelopes(client, "llm", "llm.chat.completed")


def named(label: str) -> Callable[[object], str]:
    """A reply function that says which server answered."""
    return lambda _messages: f"{label} says hello"


async def ask_existing(client: aioredis.Redis, request_id: str) -> Envelope:
    """Wait for the completion of an already-published request."""

    async def answered() -> bool:
        return any(e.payload["request_id"] == request_id for e in await completed(client))

    await wait_until(answered, 30, f"llm.chat.completed for {request_id}")
    return next(e for e in await completed(client) if e.payload["request_id"] == request_id)
