"""POST /api/v1/llm/chat through a real llm worker (extractive backend) and the gateway's reply reader."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import pytest
import redis.asyncio as aioredis
from http_support import Gateway, account, eventually
from service_support import serving

from aiwf.bus import keys
from aiwf.bus.config import BusConfig
from aiwf.bus.middleware import DEFAULT_MIDDLEWARE, Call
from aiwf.workers.auth.service import SERVICE as AUTH
from aiwf.workers.llm.service import SERVICE as LLM
from aiwf.workers.llm.testing_server import serve_chat

ARTICLE = (
    "Redis streams keep every event in order. Consumer groups share the work between workers. "
    "A dead letter keeps the error of a poison event. The gateway turns requests into events."
)


@pytest.fixture(autouse=True)
def extractive(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LLM URL: the llm service answers with its extractive summarizer."""
    for name in ("AIWF_LLM_URL", "AIWF_LLM_FALLBACK_URL"):
        monkeypatch.delenv(name, raising=False)


def chat(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], "max_tokens": 64}


async def test_chat_answers_with_the_completion_and_any_replica_finds_it(gateway: Gateway, bus: BusConfig) -> None:
    """A chat is an OpenAI-shaped extractive completion; GET /requests/{id} on another replica has it too."""
    async with serving(AUTH, bus), serving(LLM, bus), gateway() as one, gateway() as two:
        me = await account(one, "ada")
        response = await one.post("/api/v1/llm/chat", json=chat(ARTICLE), headers=me)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "chat.completion"
        assert body["backend"] == "extractive"
        content = body["choices"][0]["message"]["content"]
        assert body["choices"][0]["message"]["role"] == "assistant"
        assert content
        assert content in ARTICLE or all(s.strip(". ") in ARTICLE for s in content.split(". "))
        again = await two.get(f"/api/v1/requests/{body['id']}", headers=me)
        assert again.status_code == 200
        assert again.json()["choices"] == body["choices"]
        other = await account(two, "bob")
        assert (await two.get(f"/api/v1/requests/{body['id']}", headers=other)).status_code == 404


async def test_two_replicas_each_get_their_own_replies(gateway: Gateway, bus: BusConfig) -> None:
    """Concurrent chats on two replicas: every response carries the completion of its own request."""
    texts = [f"Request number {i} speaks of topic{i} alone." for i in range(12)]
    async with serving(AUTH, bus), serving(LLM, bus), gateway() as one, gateway() as two:
        replicas = [one, two]
        me = await account(one, "ada")
        responses = await asyncio.gather(
            *(replicas[i % 2].post("/api/v1/llm/chat", json=chat(t), headers=me) for i, t in enumerate(texts))
        )
    for text, response in zip(texts, responses, strict=True):
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] in text


def slow(seconds: float) -> Any:
    """Middleware holding each handler `seconds` before it runs (a slow backend)."""

    def middleware(call: Call) -> Call:
        async def held(event: Any, ctx: Any) -> Any:
            await asyncio.sleep(seconds)
            return await call(event, ctx)

        return held

    return middleware


async def test_a_chat_past_its_timeout_is_202_then_its_result(gateway: Gateway, bus: BusConfig) -> None:
    """Past AIWF_GATEWAY_LLM_TIMEOUT the answer is 202 with the request's URL, which later holds the completion."""
    held = dataclasses.replace(LLM, middleware=[*DEFAULT_MIDDLEWARE, slow(1.0)])
    async with serving(AUTH, bus), serving(held, bus), gateway(llm_timeout_s=0.2) as http:
        me = await account(http, "ada")
        response = await http.post("/api/v1/llm/chat", json=chat(ARTICLE), headers=me)
        assert response.status_code == 202, response.text
        url = response.json()["url"]
        assert response.headers["location"] == url
        assert url == f"/api/v1/requests/{response.json()['id']}"
        assert (await http.get(url, headers=me)).status_code == 202  # still running
        done = await eventually(lambda: http.get(url, headers=me), 200)
    assert done.status_code == 200
    assert done.json()["backend"] == "extractive"


async def test_llm_offline_is_503_and_nothing_is_published(
    gateway: Gateway, bus: BusConfig, client: aioredis.Redis
) -> None:
    """Without a running llm worker a sync chat is 503 with Retry-After and a readable message; no event is written."""
    async with serving(AUTH, bus), gateway(retry_after_s=7) as http:
        response = await http.post("/api/v1/llm/chat", json=chat(ARTICLE), headers=await account(http, "ada"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"error": "llm_offline", "message": "The language model is temporarily offline"}
    assert await client.exists(keys.stream("llm")) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}], "temperature": 9}, "temperature"),
        ({"messages": [{"role": "user", "content": "hi"}], "stream": "yes please"}, "stream"),
        ({"prompt": "hi"}, "messages"),
    ],
)
async def test_bad_chat_bodies_are_422_naming_the_field(
    gateway: Gateway, bus: BusConfig, client: aioredis.Redis, body: dict[str, Any], field: str
) -> None:
    """A body the llm.chat.requested schema refuses is 422 whose message starts with the field; nothing is published."""
    async with serving(AUTH, bus), serving(LLM, bus), gateway() as http:
        response = await http.post("/api/v1/llm/chat", json=body, headers=await account(http, "ada"))
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["message"].startswith(f"{field}:")
    assert await client.xlen(keys.stream("llm")) == 0  # the worker made the stream; no event is on it


async def _chunks(http: Any, body: dict[str, Any], headers: dict[str, str]) -> list[str]:
    """The `data:` lines of a streamed chat."""
    async with http.stream("POST", "/api/v1/llm/chat", json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return [line.removeprefix("data: ") async for line in response.aiter_lines() if line.startswith("data: ")]


def _text(chunks: list[str]) -> str:
    return "".join(json.loads(c)["choices"][0]["delta"].get("content", "") for c in chunks if c != "[DONE]")


async def test_stream_true_sends_the_backends_deltas_then_done(
    gateway: Gateway, bus: BusConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a streaming backend, `stream: true` is OpenAI chunks carrying the deltas, the finish, then [DONE]."""
    words = " ".join(f"word{i}" for i in range(60))
    with serve_chat(reply=lambda _m: words) as server:
        monkeypatch.setenv("AIWF_LLM_URL", server.base_url)
        async with serving(AUTH, bus), serving(LLM, bus), gateway() as http:
            me = await account(http, "ada")
            chunks = await _chunks(http, {**chat("say words"), "stream": True}, me)
    assert chunks[-1] == "[DONE]"
    assert len(chunks) > 3  # the deltas came one by one, not as one answer
    assert json.loads(chunks[-2])["choices"][0]["finish_reason"]
    assert _text(chunks) == words


async def test_stream_true_with_the_extractive_backend(gateway: Gateway, bus: BusConfig) -> None:
    """The extractive backend's text arrives as chunks that join to its summary, a finish reason, then [DONE]."""
    async with serving(AUTH, bus), serving(LLM, bus), gateway() as http:
        me = await account(http, "ada")
        chunks = await _chunks(http, {**chat(ARTICLE), "stream": True}, me)
    assert chunks[-1] == "[DONE]"
    assert json.loads(chunks[-2])["choices"][0]["finish_reason"] == "stop"
    assert _text(chunks)
    assert _text(chunks) in ARTICLE or all(s.strip(". ") in ARTICLE for s in _text(chunks).split(". "))


async def test_request_events_stream_ends_with_the_reply(gateway: Gateway, bus: BusConfig) -> None:
    """GET /requests/{id}/events of a queued chat: the request, then its completion, then the stream ends."""
    async with serving(AUTH, bus), serving(LLM, bus), gateway() as http:
        me = await account(http, "ada")
        queued = await http.post("/api/v1/llm/chat", json=chat(ARTICLE), headers={**me, "Prefer": "respond-async"})
        assert queued.status_code == 202
        kinds = []
        async with http.stream("GET", f"{queued.json()['url']}/events", headers=me) as response:
            kinds = [
                line.removeprefix("event: ") async for line in response.aiter_lines() if line.startswith("event: ")
            ]
    assert kinds == ["llm.chat.requested", "llm.chat.completed"]
