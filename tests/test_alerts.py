"""`aiwf alerts` without Prometheus: alerts.yml's error-rate rule evaluated from the workers' heartbeats."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from aiwf.bus import Context, PermanentError, Publisher, RetryPolicy, Service, Subscription, heartbeat
from aiwf.bus.alerts import Alert, evaluate
from aiwf.bus.config import AlertSettings, BusConfig
from aiwf.schemas import Event
from tests.contract.harness import drain
from tests.events import ItemCreated
from tests.worker_support import new_worker, running_worker

WINDOW_S = 3.0
ONE_SHOT = RetryPolicy(max_deliveries=1, backoff_base_s=0.01, backoff_max_s=0.02, outage_after=1000)


def failing_service() -> tuple[Service, Subscription]:
    """`shaky` on `testing`: events titled `bad-*` raise, the others succeed."""
    sub = Subscription(stream="testing", group="shaky", retry=ONE_SHOT, batch=50)

    @sub.handler
    async def handle(event: ItemCreated, ctx: Context) -> list[Event]:
        if event.title.startswith("bad"):
            raise PermanentError(f"cannot take {event.title}")
        return []

    return Service("shaky", [sub]), sub


async def publish(client: aioredis.Redis, config: BusConfig, good: int, bad: int) -> None:
    pub = Publisher(client, config)
    every = (good + bad) // bad
    for n in range(good + bad):
        await pub.publish(ItemCreated(title=f"{'bad' if n % every == 0 else 'good'}-{n}-{time.time()}"))


async def error_rate(client: aioredis.Redis, settings: AlertSettings) -> Alert | None:
    found = [a for a in await evaluate(client, settings) if a.name == "AiwfErrorRateHigh" and a.service == "shaky"]
    return found[0] if found else None


async def wait_for_alert(client: aioredis.Redis, settings: AlertSettings, present: bool, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (await error_rate(client, settings) is not None) == present:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"AiwfErrorRateHigh {'never fired' if present else 'never cleared'} in {timeout_s}s")


@pytest.mark.slow
async def test_error_rate_fires_above_five_percent_and_clears(
    client: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 % failing stays quiet; 10 % failing over the window fires, critical, with figures; a quiet window clears it."""
    monkeypatch.setattr(heartbeat, "HEARTBEAT_EVERY_S", 0.2)
    settings = AlertSettings(window_s=WINDOW_S)
    config = BusConfig(redis_url=redis_url, producer="tests", marker_ttl_s=3600, alerts=settings)
    service, sub = failing_service()
    worker = new_worker(service, config)
    async with running_worker(worker):
        await publish(client, config, good=96, bad=4)
        await drain(client, sub)
        await asyncio.sleep(0.6)  # a few beats carry the figures
        assert await error_rate(client, settings) is None, "4 % failed: below the 5 % threshold"
        await asyncio.sleep(WINDOW_S + 0.5)  # those calls leave the window

        started = time.time()
        await publish(client, config, good=90, bad=10)
        await drain(client, sub)
        await wait_for_alert(client, settings, present=True, timeout_s=3)
        await asyncio.sleep(0.6)  # the beats after the last call carry all 100
        alert = await error_rate(client, settings)
        assert alert is not None
        assert alert.firing
        assert alert.severity == "critical"
        assert "10 of 100 handler calls failed (10.0%)" in alert.why
        assert started - 1 <= alert.since <= time.time()
        first_since = alert.since
        again = await error_rate(client, settings)
        assert again is not None
        assert again.since == first_since, "since when is kept between evaluations"

        await wait_for_alert(client, settings, present=False, timeout_s=WINDOW_S + 3)
        assert await client.hlen("aiwf:alerts") == 0


async def test_backlog_past_its_bound_warns_until_a_pass_finds_it_within(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """A retention pass that found a backlog past its bound raises AiwfBacklogPastBound for that stream (and the
    worker's /metrics says so); the next pass within the bound clears it."""
    from prometheus_client.parser import text_string_to_metric_families

    from aiwf.bus import alarms, keys
    from aiwf.bus.retention import TrimReport

    stream = keys.stream("testing")
    await client.xadd(stream, {"n": "1"})
    past = TrimReport(stream=stream, trimmed=0, safe_min_id=None, backlog=5000, alarm=True, alarm_at=1000)
    await alarms.record_trim(client, past)
    [alert] = [a for a in await evaluate(client, config.alerts) if a.name == "AiwfBacklogPastBound"]
    assert (alert.instance, alert.severity, alert.firing) == ("testing", "warning", True)
    assert "backlog of 5000+ unacknowledged entries is past its bound 1000" in alert.why

    service, _ = failing_service()
    worker = new_worker(service, config)
    worker.heartbeat.trims[stream] = past
    text = worker.heartbeat.metrics.exposition().decode()
    await worker.client.aclose()
    got = {(s.name, s.labels.get("stream")): s.value for f in text_string_to_metric_families(text) for s in f.samples}
    assert got[("aiwf_retention_backlog_alarm", "testing")] == 1
    assert got[("aiwf_retention_backlog", "testing")] == 5000

    within = TrimReport(stream=stream, trimmed=3, safe_min_id="0-1", backlog=10, alarm=False, alarm_at=1000)
    await alarms.record_trim(client, within)
    assert not [a for a in await evaluate(client, config.alerts) if a.name == "AiwfBacklogPastBound"]


async def test_a_read_only_user_still_sees_the_alerts(
    client: aioredis.Redis, redis_url: str, config: BusConfig
) -> None:
    """A user allowed to read only (NOPERM on HSETNX) gets the alerts all the same, just not remembered."""
    from aiwf.bus import keys

    await client.hset(keys.SERVICES_SEEN, "llm", str(int(time.time()) - 120))
    await client.hset(keys.SERVICES_SEEN, "tts", str(int(time.time()) - 120))
    await client.acl_setuser(
        "reader", enabled=True, passwords=["+reader-pass"], keys=["*"], channels=["*"], commands=["+@read", "+ping"]
    )
    try:
        reader = aioredis.Redis.from_url(redis_url, username="reader", password="reader-pass")
        found = {a.id: a for a in await evaluate(reader, config.alerts)}
        await reader.aclose()
        assert found["AiwfServiceOffline/llm"].firing
        assert found["AiwfServicesOffline"].firing
    finally:
        await client.acl_deluser("reader")
