"""A worker's background tasks: they survive Redis error replies, a dead one makes /health 503,
and stop() or task.cancel() ends every one of them, every time."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
import redis.asyncio as aioredis

from aiwf.bus import BackendUnavailable, Consumer, Context, Publisher, Subscription
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.server import free_port
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event
from tests.contract.harness import drain, running
from tests.events import ItemCreated
from tests.worker_support import get_health, item_service, new_worker, running_worker

TRIALS = 100
#: Stops are run this many at a time: a stop waits for the read in flight (up to 0.5 s).
AT_ONCE = 10


async def beat_at(client: aioredis.Redis, service: str) -> int:
    """The newest heartbeat time of `service` (0 without one)."""
    times = [
        int(await client.hget(key, "beat_at") or 0) async for key in client.scan_iter(match=f"aiwf:hb:{service}:*")
    ]
    return max(times, default=0)


async def test_heartbeat_survives_an_oom_reply(
    client: aioredis.Redis, config: BusConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """`CONFIG SET maxmemory 1` for a few seconds: heartbeat writes get OOM replies and are logged, the loops
    live on, and the heartbeat is fresh again once Redis takes writes."""
    assert (await client.config_get("maxmemory-policy"))["maxmemory-policy"] == "noeviction"
    worker = new_worker(item_service("oom", "oom"), config)
    worker.heartbeat.retention_every_s = 0.2
    async with running_worker(worker):
        await wait_until(lambda: _gt(beat_at(client, "oom"), 0), 10, "the first heartbeat")
        await client.config_set("maxmemory", 1)
        try:
            await wait_until(
                lambda: _true("heartbeat failed" in caplog.text and "maxmemory" in caplog.text),
                10,
                "an OOM reply to a heartbeat",
            )
            await asyncio.sleep(2.5)  # more beats and retention passes against the error
        finally:
            await client.config_set("maxmemory", 0)
        restored = int(time.time())
        await wait_until(lambda: _gt(beat_at(client, "oom"), restored), 8, "a heartbeat after the OOM")
        assert [t.done() for t in worker.heartbeat.tasks] == [False, False]
        assert worker.heartbeat.unhealthy() is None


async def test_a_background_task_that_ended_makes_health_503_with_the_reason(
    client: aioredis.Redis, config: BusConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """The retention loop ends under a running worker: GET /health answers 503 naming it; the process keeps
    serving (a supervisor's health check restarts it)."""
    port = free_port()
    worker = new_worker(item_service("halfdead", "halfdead"), config, port)
    async with running_worker(worker) as task:
        await wait_until(lambda: _answers(port, 200), 10, "GET /health to answer 200")
        heartbeat, retention = worker.heartbeat.tasks
        retention.cancel()
        await wait_until(lambda: _answers(port, 503), 5, "GET /health to turn 503")
        reply = await get_health(port)
        assert reply is not None
        assert reply[1]["unhealthy"] == "background task retention ended: cancelled"
        assert not heartbeat.done()
        assert not task.done()


async def _one_consumer_run(config: BusConfig, n: int, how: str, handled: list[str]) -> None:
    """Start a small consumer, let it work a little, end it by `how`; it must end, leaving no task behind."""
    client = connect(config.redis_url or "", config)
    sub = Subscription(stream="testing", group=f"life{n % AT_ONCE}", concurrency=2, batch=5)

    @sub.handler
    async def take(event: ItemCreated, ctx: Context) -> list[Event]:
        await asyncio.sleep(0.001)
        handled.append(event.title)
        return []

    consumer = Consumer(client, config, sub, "tests")
    task = asyncio.create_task(consumer.run())
    await asyncio.sleep(random.uniform(0.005, 0.08))  # mid-read, mid-handler or mid-commit
    if how == "stop":
        consumer.stop()
    else:
        task.cancel()
    done, _ = await asyncio.wait([task], timeout=5)
    await client.aclose()
    assert done, f"trial {n}: {how} did not end the consumer"


@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_stop_or_cancel_ends_every_background_task_of_a_consumer(
    client: aioredis.Redis, config: BusConfig, how: str
) -> None:
    """100 consumers, each stopped or cancelled while it reads and commits: each run ends, and afterwards
    no task of theirs (slots, commit pipeline, lease renewal) is left running."""
    pub = Publisher(client, config)
    before = asyncio.all_tasks()
    handled: list[str] = []
    for start in range(0, TRIALS, AT_ONCE):
        await pub.publish_many([ItemCreated(title=f"t{start}-{i}") for i in range(20)])
        await asyncio.gather(*(_one_consumer_run(config, n, how, handled) for n in range(start, start + AT_ONCE)))
        left = asyncio.all_tasks() - before
        assert not left, f"after {start + AT_ONCE} trials, still running: {sorted(t.get_name() for t in left)}"
    assert handled, "no consumer got to work before it was ended: the trials tested nothing"


@pytest.mark.parametrize("how", ["stop", "cancel"])
async def test_stop_or_cancel_ends_every_task_of_a_worker(client: aioredis.Redis, config: BusConfig, how: str) -> None:
    """50 workers stopped, or 50 cancelled: each run() ends and leaves no consumer, heartbeat or retention task."""
    pub = Publisher(client, config)
    before = asyncio.all_tasks()
    handled: list[str] = []
    for start in range(0, TRIALS // 2, AT_ONCE):
        await pub.publish_many([ItemCreated(title=f"t{start}-{i}") for i in range(20)])
        workers = [new_worker(item_service("life", f"w{n}", handled), config) for n in range(AT_ONCE)]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        await asyncio.sleep(random.uniform(0.05, 0.3))
        for worker, task in zip(workers, tasks, strict=True):
            worker.stop() if how == "stop" else task.cancel()
        done, _ = await asyncio.wait(tasks, timeout=10)
        for worker in workers:
            await worker.client.aclose()
        assert len(done) == AT_ONCE, f"{how}: {AT_ONCE - len(done)} workers did not end"
        left = asyncio.all_tasks() - before
        assert not left, f"after {start + AT_ONCE} workers, still running: {sorted(t.get_name() for t in left)}"
    assert handled, "no worker got to work before it was ended: the trials tested nothing"


async def test_a_half_second_backend_blip_with_default_settings_delays_20_events_by_seconds(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """Default RetryPolicy: 20 events whose backend is down for their first 0.5 s all finish within a few
    seconds (the probe delay grows only when a probe fails, not with every failure of the batch)."""
    sub = Subscription(stream="testing", group="blip")
    assert sub.retry == type(sub.retry)()  # the defaults, on purpose
    down_until = 0.0
    done: set[str] = set()

    @sub.handler
    async def call_backend(event: ItemCreated, ctx: Context) -> list[Event]:
        if time.monotonic() < down_until:
            raise BackendUnavailable("backend: connection refused")
        done.add(event.title)
        return []

    await Publisher(client, config).publish_many([ItemCreated(title=f"e{i}") for i in range(20)])
    async with running(sub, config) as consumer:
        started = time.monotonic()
        down_until = started + 0.5
        await drain(client, sub, timeout_s=30)
        took = time.monotonic() - started
    assert len(done) == 20
    assert consumer.stats.dead_lettered == 0
    assert took < 4.0, f"20 events behind a 0.5 s blip took {took:.1f}s"


async def _answers(port: int, status: int) -> bool:
    reply = await get_health(port)
    return reply is not None and reply[0] == status


async def _gt(value: object, floor: int) -> bool:
    return int(await value) > floor  # type: ignore[misc]


async def _true(value: bool) -> bool:
    return value
