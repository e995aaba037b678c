"""A request that always fails beside healthy ones: dead-lettered at its cap, the service never pauses."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest
import redis.asyncio as aioredis
from llm_support import Serve, ask_existing, llm_service, named, request

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.consume import Consumer
from aiwf.bus.retry import DEFAULT_MAX_DELIVERIES
from aiwf.bus.testing import wait_until
from aiwf.workers.llm.testing_server import serve_chat
from tests.replies import Entries

__all__ = ["llm_service"]  # the fixture, imported


async def _watch(consumer: Consumer, seen: set[str], stop: asyncio.Event) -> None:
    """Record every state the consumer shows until `stop`."""
    while not stop.is_set():
        seen.add(consumer.state)
        await asyncio.sleep(0.01)


@pytest.mark.slow
@pytest.mark.parametrize("status", [500, 429])
async def test_a_poison_request_is_dead_lettered_while_healthy_ones_complete(
    client: aioredis.Redis, config: BusConfig, llm_service: Serve, status: int
) -> None:
    """Both backends fail one request (5xx, or 429 for it alone) while answering GET /models: it reaches
    max deliveries and the dead letters, the healthy requests beside it complete, the subscription never pauses."""
    with serve_chat(reply=named("primary")) as primary, serve_chat(reply=named("fallback")) as fallback:
        for server in (primary, fallback):
            server.poison("POISON", status)
        env: dict[str, str | None] = {"AIWF_LLM_URL": primary.base_url, "AIWF_LLM_FALLBACK_URL": fallback.base_url}
        async with llm_service(env) as worker:
            (consumer,) = worker.consumers
            seen: set[str] = set()
            stop = asyncio.Event()
            watcher = asyncio.create_task(_watch(consumer, seen, stop))
            publisher = Publisher(client, config)
            await publisher.publish(request("poison", "POISON " * 50))
            for n in range(6):
                await publisher.publish(request(f"healthy-{n}"))
            for n in range(6):
                await ask_existing(client, f"healthy-{n}")

            async def dead() -> bool:
                return bool(await client.xlen(keys.dead_letters("llm")))

            await wait_until(dead, 90, "the poison request's dead letter")
            stop.set()
            await watcher
    assert "paused" not in seen
    ((_, letter),) = cast("Entries", await client.xrange(keys.dead_letters("llm")))
    assert letter[b"deliveries"] == str(DEFAULT_MAX_DELIVERIES).encode()
    assert letter[b"error_type"] == b"RequestFailing"
    assert f"HTTP {status}".encode() in letter[b"error"]
    poisoned = [r for r in primary.requests + fallback.requests if "POISON" in str(r["messages"])]
    assert len(poisoned) >= DEFAULT_MAX_DELIVERIES  # every delivery asked a backend again


async def test_a_backend_whose_health_check_fails_is_an_outage_not_poison(
    client: aioredis.Redis, config: BusConfig, llm_service: Serve
) -> None:
    """Down for every request and for GET /models: the subscription pauses, nothing is dead-lettered."""
    with serve_chat(reply=named("primary")) as primary:
        primary.fail(503)
        async with llm_service({"AIWF_LLM_URL": primary.base_url, "AIWF_LLM_FALLBACK_URL": primary.base_url}) as w:
            (consumer,) = w.consumers
            await Publisher(client, config).publish(request("waits"))

            async def paused() -> bool:
                return consumer.state == "paused"

            await wait_until(paused, 20, "the subscription to pause")
            assert await client.xlen(keys.dead_letters("llm")) == 0
            primary.recover()
            done = await ask_existing(client, "waits")
    assert done.payload["backend"] in {"primary", "fallback"}
    assert await client.xlen(keys.dead_letters("llm")) == 0
