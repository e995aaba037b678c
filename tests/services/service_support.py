"""Shared helpers for the service tests: decoded stream contents, and services run as their worker runs
them (lifespan, deps, every subscription) or handler by handler."""

from __future__ import annotations

from typing import cast

import pytest
import redis.asyncio as aioredis

from aiwf.bus import codec, keys
from aiwf.bus.commit import CommitBatch, Committer
from aiwf.bus.config import BusConfig
from aiwf.bus.deadletter import FIELD_ERROR
from aiwf.bus.decision import Decision, Nack, Result
from aiwf.bus.worker import Service
from aiwf.schemas import Envelope
from tests.contract.harness import drain
from tests.replies import Entries
from tests.worker_support import serving as serving  # noqa: PLC0414 - re-exported for the service tests

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


def set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> None:
    """Set (or, for None, unset) environment variables; services read them when their lifespan starts."""
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)


async def commit(client: aioredis.Redis, config: BusConfig, cause: Envelope, result: Result, group: str) -> int:
    """Commit a handler's result for `cause` as the consumer would (bus/commit.py); the result code."""
    assert not isinstance(result, Nack)
    decision = result if isinstance(result, Decision) else Decision(events=result)
    batch = CommitBatch(keys.domain_of(cause.type), group, config.marker_ttl_s)
    outputs = [cause.caused(e, producer=group) for e in decision.events]
    batch.ok("0-1", cause.id, outputs, decision.appends, decision.writes)
    return (await Committer(client, config).commit(batch)).codes[0]


async def drain_all(client: aioredis.Redis, service: Service, timeout_s: float = 15.0) -> None:
    """Wait until every subscription of `service` whose stream exists has drained it."""
    for sub in service.subscriptions:
        if await client.exists(keys.stream(sub.stream)):
            await drain(client, sub, timeout_s)
