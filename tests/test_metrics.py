"""GET /metrics of a running worker: the counters of a scripted run, the health server beside it."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import redis.asyncio as aioredis

from aiwf.bus import Context, PermanentError, Publisher, RetryPolicy, Service, Subscription, TransientError, Worker
from aiwf.bus.config import BusConfig
from aiwf.bus.middleware import logging_middleware, timeout, tracing
from aiwf.bus.server import free_port
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event
from tests.events import ItemCounted, ItemCreated
from tests.metrics_support import samples, scrape, value
from tests.worker_support import get_health, new_worker, running_worker

SUB = "testing/metered"
HANDLED = "aiwf_events_handled_total"
OK, BAD, FLAKY, FOREIGN = 7, 3, 2, 4


def metered_service(name: str = "metered", **kwargs: object) -> Service:
    """ok-* succeed, bad-* fail for good, flaky-* fail once then succeed; ItemCounted has no handler here."""
    sub = Subscription(
        stream="testing", group="metered", concurrency=4, batch=10, retry=RetryPolicy(backoff_base_s=0.05)
    )

    @sub.handler
    async def take(event: ItemCreated, ctx: Context) -> list[Event]:
        if event.title.startswith("bad"):
            raise PermanentError("no good")
        if event.title.startswith("flaky") and ctx.deliveries == 1:
            raise TransientError("not yet")
        return [ItemCounted(source_title=event.title, n=1)]

    return Service(name, [sub], **kwargs)  # type: ignore[arg-type]


async def publish_script(client: aioredis.Redis, config: BusConfig) -> None:
    pub = Publisher(client, config)
    for prefix, n in (("ok", OK), ("bad", BAD), ("flaky", FLAKY)):
        for i in range(n):
            await pub.publish(ItemCreated(title=f"{prefix}-{i}"))
    for i in range(FOREIGN):
        await pub.publish(ItemCounted(source_title=f"x-{i}", n=i), stream="testing")


async def test_counters_move_with_a_scripted_run(client: aioredis.Redis, config: BusConfig) -> None:
    """7 ok, 3 permanent failures, 2 that fail once and 4 events without a handler (plus the 9 outputs, read
    back from the same stream) give exactly those numbers on /metrics: outcomes, handler calls and failures,
    committed entries, and the group's gauges."""
    port = free_port()
    worker = new_worker(metered_service(), config, port)
    async with running_worker(worker):
        await wait_until(lambda: _listening(port), 10, "the health server")
        await publish_script(client, config)
        done = OK + FLAKY

        async def settled() -> bool:
            found = await samples(port)
            handled = value(found, "aiwf_events_handled_total", subscription=SUB)
            return handled == done + BAD + FLAKY + FOREIGN + done and value(found, "aiwf_consumer_group_lag") == 0

        await wait_until(settled, 15, "every event to be counted and the lag sampled")
        found = await samples(port)

    def handled(outcome: str, event_type: str = "testing.item.created") -> float:
        labels = {"service": "metered", "subscription": SUB, "type": event_type, "outcome": outcome}
        return value(found, "aiwf_events_handled_total", **labels)

    assert handled("committed") == done
    assert handled("dead_lettered") == BAD
    assert handled("retried") == FLAKY
    assert handled("skipped", "other") == FOREIGN + done  # its own outputs come back on `testing`
    assert handled("duplicate") == handled("conflict") == 0
    calls = value(found, "aiwf_handler_duration_seconds_count", type="testing.item.created")
    assert calls == OK + BAD + 2 * FLAKY
    assert value(found, "aiwf_handler_failures_total", type="testing.item.created") == BAD + FLAKY
    assert value(found, "aiwf_commit_batch_size_sum", subscription=SUB) == done + BAD + FOREIGN + done
    assert value(found, "aiwf_commit_duration_seconds_count") == value(found, "aiwf_commit_batch_size_count") >= 1
    group = {"service": "metered", "stream": "testing", "group": "metered"}
    assert value(found, "aiwf_consumer_group_pending", **group) == 0
    assert ("aiwf_consumer_group_lag", frozenset(group.items())) in found
    assert value(found, "aiwf_subscription_paused", subscription=SUB) == 0
    assert value(found, "aiwf_uptime_seconds") > 0
    assert value(found, "process_resident_memory_bytes") > 0
    assert 0 < value(found, "process_resident_memory_bytes") < value(found, "aiwf_memory_limit_bytes")


async def test_metrics_is_prometheus_text_and_other_paths_keep_their_answers(config: BusConfig) -> None:
    """/metrics answers 200 in the text format; /health and /ready still answer JSON 200; any other path 404."""
    port = free_port()
    worker = new_worker(metered_service("paths"), config, port)
    async with running_worker(worker):
        await wait_until(lambda: _listening(port), 10, "the health server")
        content_type, body = await asyncio.to_thread(scrape, port)
        assert content_type.startswith("text/plain; version=0.0.4")
        assert "# TYPE aiwf_uptime_seconds gauge" in body
        health = await get_health(port)
        assert health is not None
        assert health[0] == 200
        assert health[1]["service"] == "paths"
        assert (await asyncio.to_thread(_status, port, "/ready"))[0] == 200
        assert await asyncio.to_thread(_status, port, "/nope") == (404, b'{"error":"not found"}')
        assert (await asyncio.to_thread(_status, port, "/"))[0] == 404
        assert (await asyncio.to_thread(_status, port, "/metrics/x"))[0] == 404


async def test_health_503_leaves_metrics_answering(config: BusConfig) -> None:
    """A worker whose retention loop died answers 503 on /health, and /metrics still 200 (scrapes go on)."""
    port = free_port()
    worker = new_worker(metered_service("halfdead"), config, port)
    async with running_worker(worker):
        await wait_until(lambda: _listening(port), 10, "the health server")
        worker.heartbeat.tasks[1].cancel()
        await wait_until(lambda: _health_is(port, 503), 5, "GET /health to turn 503")
        assert (await asyncio.to_thread(_status, port, "/metrics"))[0] == 200


async def test_a_service_without_the_metrics_middleware_records_no_event_figures(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """Middleware without `metrics`: events are handled, /metrics serves process figures but no event series."""
    port = free_port()
    worker = new_worker(metered_service("bare", middleware=(logging_middleware(), tracing, timeout)), config, port)
    async with running_worker(worker):
        await wait_until(lambda: _listening(port), 10, "the health server")
        await Publisher(client, config).publish(ItemCreated(title="ok-bare"))
        await wait_until(lambda: _processed(worker), 10, "the event to be handled")
        found = await samples(port)
    assert not [name for name, _ in found if name.startswith(("aiwf_events", "aiwf_handler", "aiwf_commit"))]
    assert value(found, "aiwf_uptime_seconds") > 0


async def test_two_workers_in_one_process_keep_their_own_registries(client: aioredis.Redis, config: BusConfig) -> None:
    """Two workers side by side: each /metrics counts only its own events (one registry per Worker)."""
    ports = free_port(), free_port()
    first = new_worker(metered_service("first"), config, ports[0])
    second = new_worker(metered_service("second"), config, ports[1])
    async with running_worker(first), running_worker(second):
        await wait_until(lambda: _all_listening(ports), 10, "the health servers")
        await Publisher(client, config).publish(ItemCreated(title="ok-once"))
        await wait_until(lambda: _committed_anywhere(ports), 10, "the event to be counted")
        one, two = [await samples(p) for p in ports]
    committed = [value(one, HANDLED, service="first", outcome="committed")]
    committed.append(value(two, HANDLED, service="second", outcome="committed"))
    assert sorted(committed) == [0, 1]
    assert value(one, HANDLED, service="second") == value(two, HANDLED, service="first") == 0


def _status(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as reply:
            return int(reply.status), reply.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


async def _listening(port: int) -> bool:
    return await get_health(port) is not None


async def _all_listening(ports: tuple[int, int]) -> bool:
    return all([await _listening(p) for p in ports])


async def _health_is(port: int, status: int) -> bool:
    reply = await get_health(port)
    return reply is not None and reply[0] == status


async def _processed(worker: Worker) -> bool:
    return sum(c.stats.processed for c in worker.consumers) == 1


async def _committed_anywhere(ports: tuple[int, int]) -> bool:
    counts = [value(await samples(p), "aiwf_events_handled_total", outcome="committed") for p in ports]
    return sum(counts) == 1
