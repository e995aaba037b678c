"""The llm service in-process on a real Redis against real chat-completions servers (workers.llm.testing_server)."""

from __future__ import annotations

import redis.asyncio as aioredis
from llm_support import ARTICLE, Serve, ask, ask_existing, completed, llm_service, named, request
from service_support import dead_letters, envelopes

from aiwf.bus import Publisher
from aiwf.bus.config import BusConfig
from aiwf.bus.consume import Consumer
from aiwf.bus.testing import wait_until
from aiwf.workers.llm.testing_server import serve_chat

__all__ = ["llm_service"]  # the fixture, imported


async def test_completion_from_primary(client: aioredis.Redis, config: BusConfig, llm_service: Serve) -> None:
    """With AIWF_LLM_URL set, a chat request is answered by that server and the event names backend=primary."""
    with serve_chat(reply=named("primary"), model="m-primary") as primary:
        async with llm_service({"AIWF_LLM_URL": primary.base_url, "AIWF_LLM_MODEL": "m-primary"}):
            done = await ask(client, config, "r1")
    assert done.payload["backend"] == "primary"
    assert done.payload["text"] == "primary says hello"
    assert done.payload["model"] == "m-primary"
    assert done.payload["usage"]["total_tokens"] > 0
    assert primary.requests[0]["messages"][1]["content"] == ARTICLE


async def test_primary_down_uses_fallback_then_primary_again(
    client: aioredis.Redis, config: BusConfig, llm_service: Serve
) -> None:
    """While the primary answers 503 the fallback answers (backend=fallback); once it recovers, the primary again."""
    with serve_chat(reply=named("primary")) as primary, serve_chat(reply=named("fallback")) as fallback:
        async with llm_service({"AIWF_LLM_URL": primary.base_url, "AIWF_LLM_FALLBACK_URL": fallback.base_url}):
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
    client: aioredis.Redis, config: BusConfig, llm_service: Serve
) -> None:
    """With no AIWF_LLM_URL the extractive summarizer answers and says so: backend=extractive, text from the input."""
    async with llm_service({}):
        done = await ask(client, config, "x1")
    assert done.payload["backend"] == "extractive"
    text = done.payload["text"]
    assert text
    sentences = [s.strip() for s in ARTICLE.split(". ") if s.strip()]
    assert any(s.rstrip(".") in text for s in sentences)
    assert len(text) < len(ARTICLE)


async def test_both_backends_down_pauses_instead_of_failing(
    client: aioredis.Redis, config: BusConfig, llm_service: Serve
) -> None:
    """With primary and fallback both down, a request is neither failed nor dead-lettered; it completes on recovery."""
    with serve_chat(reply=named("primary")) as primary, serve_chat(reply=named("fallback")) as fallback:
        primary.fail(503)
        fallback.fail(503)
        env: dict[str, str | None] = {"AIWF_LLM_URL": primary.base_url, "AIWF_LLM_FALLBACK_URL": fallback.base_url}
        async with llm_service(env) as worker:
            (consumer,) = worker.consumers
            await Publisher(client, config).publish(request("waits"))
            await wait_until(lambda: _has_failed(consumer), 20, "the first failed attempt")
            await wait_until(lambda: _is(consumer.state == "paused"), 10, "the subscription to pause")
            assert await completed(client) == []
            fallback.recover()
            done = await ask_existing(client, "waits")
    assert done.payload["backend"] == "fallback"
    assert await envelopes(client, "llm", "llm.chat.failed") == []
    assert await dead_letters(client) == {}


async def _has_failed(consumer: Consumer) -> bool:
    return bool(consumer.stats.failed)


async def _is(value: bool) -> bool:
    return value
