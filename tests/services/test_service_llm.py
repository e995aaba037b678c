"""The llm service in-process on a real Redis against real chat-completions servers (workers.llm.testing_server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType

import pytest
import redis.asyncio as aioredis
from service_support import dead_letters, envelopes, started_service

from aiwf.bus import Publisher
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.schemas import Envelope
from aiwf.schemas.events.llm import ChatRequested, Message
from aiwf.workers.llm.testing_server import serve_chat
from tests.contract.harness import running

ARTICLE = (
    "Redis streams keep an append-only log of entries. Consumer groups share a stream between workers. "
    "Every entry must be acknowledged after it is processed. Unacknowledged entries stay pending. "
    "A crashed worker's pending entries can be claimed by another worker."
)

ServiceFactory = Callable[[dict[str, str | None]], Awaitable[ModuleType]]


@pytest.fixture
async def llm_service(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ServiceFactory]:
    """Starts workers.llm.service under a given AIWF_LLM_* environment; shuts it down (closing its backend) after."""
    loaded: list[ModuleType] = []

    async def load(env: dict[str, str | None]) -> ModuleType:
        base: dict[str, str | None] = {
            "AIWF_LLM_URL": None,
            "AIWF_LLM_MODEL": None,
            "AIWF_LLM_API_KEY": None,
            "AIWF_LLM_FALLBACK_URL": None,
            "AIWF_LLM_FALLBACK_MODEL": None,
            "AIWF_LLM_FALLBACK_API_KEY": None,
            "AIWF_LLM_TIMEOUT": "5",
        }
        module = await started_service("llm", monkeypatch, base | env)
        loaded.append(module)
        return module

    yield load
    for module in loaded:
        await module.shutdown()


def request(request_id: str, text: str = ARTICLE) -> ChatRequested:
    """A summary request in the shape the pipeline sends."""
    return ChatRequested(
        request_id=request_id,
        messages=[
            Message(role="system", content="Summarize the following document."),
            Message(role="user", content=text),
        ],
    )


async def ask(client: aioredis.Redis, config: BusConfig, request_id: str) -> Envelope:
    """Publish one request and wait for its llm.chat.completed (the consumer must be running)."""
    await Publisher(client, config).publish(request(request_id))
    return await ask_existing(client, request_id)


async def completed(client: aioredis.Redis) -> list[Envelope]:
    return await envelopes(client, "llm", "llm.chat.completed")


def named(label: str) -> Callable[[object], str]:
    """A reply function that says which server answered."""
    return lambda _messages: f"{label} says hello"


async def test_completion_from_primary(client: aioredis.Redis, config: BusConfig, llm_service: ServiceFactory) -> None:
    """With AIWF_LLM_URL set, a chat request is answered by that server and the event names backend=primary."""
    with serve_chat(reply=named("primary"), model="m-primary") as primary:
        service = await llm_service({"AIWF_LLM_URL": primary.base_url, "AIWF_LLM_MODEL": "m-primary"})
        async with running(service.llm, config, service="llm"):
            done = await ask(client, config, "r1")
    assert done.payload["backend"] == "primary"
    assert done.payload["text"] == "primary says hello"
    assert done.payload["model"] == "m-primary"
    assert done.payload["usage"]["total_tokens"] > 0
    assert primary.requests[0]["messages"][1]["content"] == ARTICLE


async def test_primary_down_uses_fallback_then_primary_again(
    client: aioredis.Redis, config: BusConfig, llm_service: ServiceFactory
) -> None:
    """While the primary answers 503 the fallback answers (backend=fallback); once it recovers, the primary again."""
    with serve_chat(reply=named("primary")) as primary, serve_chat(reply=named("fallback")) as fallback:
        service = await llm_service({"AIWF_LLM_URL": primary.base_url, "AIWF_LLM_FALLBACK_URL": fallback.base_url})
        async with running(service.llm, config, service="llm"):
            before = await ask(client, config, "before")
            primary.fail(503)
            during = await ask(client, config, "during")
            primary.recover()
            after = await ask(client, config, "after")
    assert [e.payload["backend"] for e in (before, during, after)] == ["primary", "fallback", "primary"]
    assert during.payload["text"] == "fallback says hello"
    assert len(fallback.requests) == 1
    assert len(primary.requests) >= 3  # before, the failed attempts of "during", after
    assert await envelopes(client, "llm", "llm.chat.failed") == []
    assert await dead_letters(client) == {}


async def test_without_a_model_server_the_extractive_backend_answers(
    client: aioredis.Redis, config: BusConfig, llm_service: ServiceFactory
) -> None:
    """With no AIWF_LLM_URL the extractive summarizer answers and says so: backend=extractive, text from the input."""
    service = await llm_service({})
    async with running(service.llm, config, service="llm"):
        done = await ask(client, config, "x1")
    assert done.payload["backend"] == "extractive"
    text = done.payload["text"]
    assert text
    sentences = [s.strip() for s in ARTICLE.split(". ") if s.strip()]
    assert any(s.rstrip(".") in text for s in sentences)
    assert len(text) < len(ARTICLE)


async def test_both_backends_down_pauses_instead_of_failing(
    client: aioredis.Redis, config: BusConfig, llm_service: ServiceFactory
) -> None:
    """With primary and fallback both down, a request is neither failed nor dead-lettered; it completes on recovery."""
    with serve_chat(reply=named("primary")) as primary, serve_chat(reply=named("fallback")) as fallback:
        primary.fail(503)
        fallback.fail(503)
        service = await llm_service({"AIWF_LLM_URL": primary.base_url, "AIWF_LLM_FALLBACK_URL": fallback.base_url})
        async with running(service.llm, config, service="llm") as consumer:
            await Publisher(client, config).publish(request("waits"))
            await wait_until(lambda: _has_failed(consumer), 20, "the first failed attempt")
            assert await completed(client) == []
            fallback.recover()
            done = await ask_existing(client, "waits")
    assert done.payload["backend"] == "fallback"
    assert await envelopes(client, "llm", "llm.chat.failed") == []
    assert await dead_letters(client) == {}


async def _has_failed(consumer: object) -> bool:
    return bool(consumer.stats.failed)  # type: ignore[attr-defined]


async def ask_existing(client: aioredis.Redis, request_id: str) -> Envelope:
    """Wait for the completion of an already-published request."""

    async def answered() -> bool:
        return any(e.payload["request_id"] == request_id for e in await completed(client))

    await wait_until(answered, 30, f"llm.chat.completed for {request_id}")
    return next(e for e in await completed(client) if e.payload["request_id"] == request_id)
