"""Shared helpers for the service tests: decoded stream contents and env-fresh service modules."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import cast

import pytest
import redis.asyncio as aioredis

from aiwf.bus import codec, keys
from aiwf.bus.deadletter import FIELD_ERROR
from aiwf.schemas import Envelope
from tests.replies import Entries

MAX_EVENT_BYTES = 64_000_000


async def envelopes(client: aioredis.Redis, domain: str, type_: str | None = None) -> list[Envelope]:
    """Every event on a domain stream (of one type, if given), oldest first."""
    rows = cast("Entries", await client.xrange(keys.stream(domain)))
    out = [codec.decode(fields, MAX_EVENT_BYTES) for _, fields in rows]
    return [e for e in out if type_ is None or e.type == type_]


async def dead_letters(client: aioredis.Redis) -> dict[str, list[str]]:
    """Error messages of every dead letter, by dead-letter stream key."""
    found: dict[str, list[str]] = {}
    async for key in client.scan_iter(match=keys.DEAD_LETTER_PATTERN, count=100):
        rows = cast("Entries", await client.xrange(key))
        found[key.decode()] = [f.get(FIELD_ERROR.encode(), b"").decode() for _, f in rows]
    return found


def fresh_service(name: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> ModuleType:
    """`workers.<name>.service` re-imported after setting (or, for None, unsetting) env (some read it at import)."""
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    module = importlib.import_module(f"aiwf.workers.{name}.service")
    return importlib.reload(module)


async def started_service(name: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> ModuleType:
    """`fresh_service`, then its startup hook: llm, tts and documents read their settings when they start."""
    module = fresh_service(name, monkeypatch, env)
    await module.startup()  # what the service's lifespan runs first
    return module
