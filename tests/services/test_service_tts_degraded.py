"""tts with a broken speech engine: degraded, requests wait for a healthy instance, nothing is dead-lettered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis
from service_support import dead_letters, set_env

from aiwf.bus import Publisher, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.testing import wait_until
from aiwf.bus.worker import Worker
from aiwf.schemas.events.tts import SpeechRequested
from aiwf.workers.tts.service import SERVICE
from tests.replies import Entries


async def test_broken_engine_makes_tts_degraded_and_requests_wait(
    client: aioredis.Redis, config: BusConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With libespeak-ng missing the worker reports degraded and holds no request; they wait unacknowledged, no dead
    letter appears, and a second, healthy instance speaks all three while the degraded one still runs."""
    bogus = tmp_path / "libespeak-ng.so.1"
    bogus.write_bytes(b"not a library")
    set_env(monkeypatch, {"AIWF_ESPEAK_LIBRARY": str(bogus)})
    for i in range(3):
        await Publisher(client, config).publish(SpeechRequested(request_id=f"r{i}", text="hello"))
    worker_config = config.model_copy(update={"blob_dir": tmp_path})
    worker = Worker(SERVICE, connect(config.redis_url or "", config), worker_config, drain_timeout_s=5)
    running = asyncio.create_task(worker.run())
    try:
        await wait_until(lambda: _is(worker.heartbeat.state() == "degraded"), 10, "the worker to report degraded")
        await asyncio.sleep(1.0)  # several probe rounds
        reason = str(worker.heartbeat.snapshot()["reason"])
        assert f"espeak-ng unavailable: AIWF_ESPEAK_LIBRARY={bogus} does not load" in reason
        assert "pip install" not in reason  # the variable is the cause, not the loader wheel
        assert await dead_letters(client) == {}
        assert not [
            f
            for _, f in cast("Entries", await client.xrange(keys.stream("tts")))
            if f[b"type"] != b"tts.speech.requested"
        ]
        assert worker.heartbeat.snapshot()["pending"] == 0
        monkeypatch.delenv("AIWF_ESPEAK_LIBRARY")
        healthy = Worker(SERVICE, connect(config.redis_url or "", config), worker_config, drain_timeout_s=5)
        second = asyncio.create_task(healthy.run())
        try:
            await wait_until(lambda: _spoken(client, 3), 30, "the healthy instance to speak all three")
        finally:
            healthy.stop()
            await asyncio.wait_for(second, 15)
            await healthy.client.aclose()
        assert await dead_letters(client) == {}
    finally:
        worker.stop()
        await asyncio.wait_for(running, 15)
        await worker.client.aclose()


async def _spoken(client: aioredis.Redis, n: int) -> bool:
    found = cast("Entries", await client.xrange(keys.stream("tts")))
    return sum(1 for _, f in found if f[b"type"] == b"tts.speech.synthesized") >= n


async def _is(value: bool) -> bool:
    return value
