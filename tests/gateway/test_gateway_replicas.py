"""Two `aiwf gateway` processes on one Redis: each reply reaches the replica that waits for it."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest
import redis.asyncio as aioredis
from http_support import account, gateway_process
from service_support import serving

from aiwf.bus.config import BusConfig
from aiwf.workers.auth.service import SERVICE as AUTH
from aiwf.workers.llm.service import SERVICE as LLM


@pytest.fixture(autouse=True)
def extractive(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LLM URL: the llm service answers with its extractive summarizer."""
    for name in ("AIWF_LLM_URL", "AIWF_LLM_FALLBACK_URL"):
        monkeypatch.delenv(name, raising=False)


async def test_two_gateway_processes_each_get_their_own_replies(bus: BusConfig, client: aioredis.Redis) -> None:
    """Chats spread over two gateway processes all answer with their own text; either process finds any request."""
    texts = [f"Request number {i} speaks of topic{i} alone." for i in range(20)]
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(serving(AUTH, bus))
        await stack.enter_async_context(serving(LLM, bus))
        one = await stack.enter_async_context(gateway_process(bus))
        two = await stack.enter_async_context(gateway_process(bus))
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        me = await account(http, "ada", base=one)
        bodies = [{"messages": [{"role": "user", "content": t}], "max_tokens": 32} for t in texts]
        responses = await asyncio.gather(
            *(http.post(f"{(one, two)[i % 2]}/api/v1/llm/chat", json=b, headers=me) for i, b in enumerate(bodies))
        )
        for text, response in zip(texts, responses, strict=True):
            assert response.status_code == 200, response.text
            assert response.json()["choices"][0]["message"]["content"] in text
        made_on_one = responses[0].json()["id"]
        found_on_two = await http.get(f"{two}/api/v1/requests/{made_on_one}", headers=me)
    assert found_on_two.status_code == 200
    assert found_on_two.json()["choices"] == responses[0].json()["choices"]
