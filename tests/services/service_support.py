"""Shared helpers for the service tests: decoded stream contents, and a service run as its worker runs it."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncIterator
from types import ModuleType

import pytest
import redis.asyncio as aioredis

from aiwf.bus import codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.deadletter import FIELD_ERROR
from aiwf.bus.testing import wait_until
from aiwf.bus.worker import Service, Worker
from aiwf.schemas import Envelope
from tests.contract.harness import drain

MAX_EVENT_BYTES = 64_000_000


async def envelopes(client: aioredis.Redis, domain: str, type_: str | None = None) -> list[Envelope]:
    """Every event on a domain stream (of one type, if given), oldest first."""
    rows = await client.xrange(keys.stream(domain))
    out = [codec.decode(fields, MAX_EVENT_BYTES) for _, fields in rows]
    return [e for e in out if type_ is None or e.type == type_]


async def dead_letters(client: aioredis.Redis) -> dict[str, list[str]]:
    """Error messages of every dead letter, by dead-letter stream key."""
    found: dict[str, list[str]] = {}
    async for key in client.scan_iter(match=keys.DEAD_LETTER_PATTERN, count=100):
        rows = await client.xrange(key)
        found[key.decode()] = [f.get(FIELD_ERROR.encode(), b"").decode() for _, f in rows]
    return found


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> None:
    """Set (or, for None, unset) environment variables; services read them when their lifespan starts."""
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


def fresh_service(name: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> ModuleType:
    """`workers.<name>.service` re-imported after `set_env` (auth and calendar still read settings at import)."""
    set_env(monkeypatch, env)
    return importlib.reload(importlib.import_module(f"aiwf.workers.{name}.service"))


@contextlib.asynccontextmanager
async def serving(service: Service, config: BusConfig) -> AsyncIterator[Worker]:
    """The service as `aiwf worker` runs it (lifespan and its deps, probe, middleware), stopped gracefully after."""
    worker = Worker(service, connect(config.redis_url or "", config), config, drain_timeout_s=10)
    task = asyncio.create_task(worker.run())

    async def started() -> bool:
        if task.done():
            task.result()  # the lifespan refused to start: raise why
        return bool(worker.consumers)

    try:
        await wait_until(started, 10, f"{service.name} to start")
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
        await worker.client.aclose()


async def drain_all(client: aioredis.Redis, service: Service, timeout_s: float = 15.0) -> None:
    """Wait until every subscription of `service` whose stream exists has drained it."""
    for sub in service.subscriptions:
        if await client.exists(keys.stream(sub.stream)):
            await drain(client, sub, timeout_s)
