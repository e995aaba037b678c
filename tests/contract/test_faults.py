"""Faults with real processes: SIGKILL mid-batch, SIGTERM drain, a frozen Redis."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import cast

import orjson
import pytest
import redis.asyncio as aioredis

from aiwf.bus import Publisher, RedisUnavailable, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.server import EmbeddedRedis
from aiwf.bus.testing import wait_until
from tests.events import ItemCreated
from tests.replies import Entries

pytestmark = pytest.mark.fault
ROOT = Path(__file__).resolve().parents[2]


def start_consumer(url: str, delay_s: float = 0.0) -> subprocess.Popen[bytes]:
    """A consumer in its own process (tests/contract/crash_consumer.py); its log shows with AIWF_TEST_VERBOSE=1."""
    quiet = not os.environ.get("AIWF_TEST_VERBOSE")
    return subprocess.Popen(
        [sys.executable, "-m", "tests.contract.crash_consumer", url, str(delay_s)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.DEVNULL if quiet else None,
    )


async def publish_items(client: aioredis.Redis, config: BusConfig, n: int) -> set[str]:
    """Publish n ItemCreated concurrently (pipelined); their event ids."""
    pub = Publisher(client, config)
    ids: set[str] = set()
    for start in range(0, n, 500):
        ids.update(await pub.publish_many([ItemCreated(title=f"i{k}") for k in range(start, min(n, start + 500))]))
    return ids


async def output_causes(client: aioredis.Redis) -> Counter[str]:
    """How many ItemCounted outputs name each input event id as their cause."""
    causes: Counter[str] = Counter()
    for _, fields in cast("Entries", await client.xrange(keys.stream("testing"))):
        if fields[b"type"] == b"testing.item.counted":
            causes[orjson.loads(fields[b"body"])["causation_id"]] += 1
    return causes


async def pending(client: aioredis.Redis) -> int:
    return int((await client.xpending(keys.stream("testing"), "crash"))["pending"])


@pytest.mark.slow
async def test_sigkilled_consumers_lose_and_double_nothing(
    client: aioredis.Redis, config: BusConfig, redis_url: str
) -> None:
    """10,000 events, consumers SIGKILLed at random moments (in the commit path too): one output per input."""
    inputs = await publish_items(client, config, 10_000)
    rng = random.Random(7)
    for _ in range(4):
        victim = start_consumer(redis_url)
        await wait_until(lambda: _outputs_over(client, 1), 20, "the consumer to start committing")
        await asyncio.sleep(rng.uniform(0.05, 0.4))
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    survivor = start_consumer(redis_url)
    try:
        await wait_until(lambda: _all_done(client, len(inputs)), 90, "every input to have its output")
    finally:
        survivor.terminate()
        survivor.wait(10)
    causes = await output_causes(client)
    assert set(causes) == inputs
    assert max(causes.values()) == 1
    assert await pending(client) == 0


async def _outputs_over(client: aioredis.Redis, n: int) -> bool:
    return sum((await output_causes(client)).values()) >= n


async def _all_done(client: aioredis.Redis, n: int) -> bool:
    return len(await output_causes(client)) >= n and await pending(client) == 0


async def test_sigterm_drains_and_acks_only_finished_work(
    client: aioredis.Redis, config: BusConfig, redis_url: str
) -> None:
    """SIGTERM mid-batch: the process exits 0, every acked event has its output, nothing unfinished is acked."""
    inputs = await publish_items(client, config, 300)
    worker = start_consumer(redis_url, delay_s=0.05)
    await wait_until(lambda: _outputs_over(client, 1), 20, "the consumer to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    causes = await output_causes(client)
    assert max(causes.values()) == 1
    group = (await client.xinfo_groups(keys.stream("testing")))[0]
    delivered_not_acked = await pending(client)
    # Every event the group was given is either acked with exactly one output, or still pending.
    acked = len(causes)
    assert acked + delivered_not_acked <= len(inputs)
    assert acked > 0
    rows = await client.xpending_range(keys.stream("testing"), "crash", "-", "+", 1000)
    pending_ids = {r["message_id"] for r in rows}
    for entry_id, fields in cast(
        "Entries", await client.xrange(keys.stream("testing"), max=group["last-delivered-id"])
    ):
        if fields[b"type"] == b"testing.item.created":
            done = fields[b"id"].decode() in causes
            assert done != (entry_id in pending_ids), f"{entry_id!r}: acked without output, or output while pending"


async def test_frozen_redis_fails_publish_within_budget_and_loses_nothing(tmp_path: Path) -> None:
    """With Redis frozen (SIGSTOP), publish fails within its budget; after SIGCONT every acked event is there."""
    with EmbeddedRedis(tmp_path) as server:
        assert server.process is not None
        config = BusConfig(redis_url=server.url, socket_timeout_s=0.5, connect_timeout_s=0.5, attempts=3)
        client = connect(server.url, config)
        pub = Publisher(client, config)
        acked = [await pub.publish(ItemCreated(title=f"a{i}")) for i in range(100)]
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(RedisUnavailable, match="did not answer after 3 tries"):
                await pub.publish(ItemCreated(title="frozen"))
            elapsed = time.monotonic() - started
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        # Budget: attempts x (socket timeout + at most 0.5 s jittered wait) = 3 x 1.0 s.
        assert elapsed < 3 * (0.5 + 0.5) + 0.5
        await client.aclose()
        client = connect(server.url, config)
        ids = [f[b"id"].decode() for _, f in cast("Entries", await client.xrange(keys.stream("testing")))]
        assert set(acked) <= set(ids)
        await client.aclose()


async def test_consumer_survives_a_redis_restart_and_loses_nothing(tmp_path: Path) -> None:
    """Redis killed -9 and restarted on its AOF under a running consumer: it reconnects and finishes every event."""
    server = EmbeddedRedis(tmp_path).start()
    port = server.port
    try:
        config = BusConfig(redis_url=server.url, socket_timeout_s=0.5, connect_timeout_s=0.5)
        client = connect(server.url, config)
        inputs = await publish_items(client, config, 2000)
        worker = start_consumer(server.url, delay_s=0.0005)
        await wait_until(lambda: _outputs_over(client, 1), 20, "the consumer to start")
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        await client.aclose()
        await asyncio.sleep(0.5)
        server = EmbeddedRedis(tmp_path, port=port).start()
        client = connect(server.url, config)
        try:
            await wait_until(lambda: _all_done(client, len(inputs)), 60, "every input to have its output after restart")
        finally:
            worker.terminate()
            assert worker.wait(20) == 0
        causes = await output_causes(client)
        assert set(causes) == inputs
        assert max(causes.values()) == 1
        await client.aclose()
    finally:
        server.stop()
