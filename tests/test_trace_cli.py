"""`aiwf trace CORRELATION_ID`: one run's events as a causal tree, read from the streams and dead letters."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import redis.asyncio as aioredis
import typer
from typer.testing import CliRunner

from aiwf.bus import Context, PermanentError, Publisher, RetryPolicy, Subscription
from aiwf.bus.config import BusConfig
from aiwf.cli import trace
from aiwf.schemas import Event, new_id
from tests.contract.harness import drain, running
from tests.events import ItemCounted, ItemCreated

ONE_SHOT = RetryPolicy(max_deliveries=1, backoff_base_s=0.01, backoff_max_s=0.02, outage_after=1000)


def subscriptions() -> list[tuple[Subscription, str]]:
    """counter: ItemCreated -> two ItemCounted; sink takes ItemCounted; picky dead-letters every ItemCounted."""
    counter = Subscription(stream="testing", group="counter")
    sink = Subscription(stream="testing", group="sink")
    picky = Subscription(stream="testing", group="picky", retry=ONE_SHOT)

    @counter.handler
    async def count(event: ItemCreated, ctx: Context) -> list[Event]:
        await asyncio.sleep(0.05)  # a step that takes time, to show in after_ms
        return [ItemCounted(source_title=event.title, n=n) for n in (1, 2)]

    @sink.handler
    async def take(event: ItemCounted, ctx: Context) -> list[Event]:
        return []

    @picky.handler
    async def refuse(event: ItemCounted, ctx: Context) -> list[Event]:
        raise PermanentError("no counts today")

    return [(counter, "counter"), (sink, "sink"), (picky, "picky")]


def invoke(redis_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("COLUMNS", "200")
    app = typer.Typer()
    trace.register(app)
    app.command("noop")(lambda: None)  # a second command, so `trace` stays a subcommand
    result = CliRunner().invoke(app, ["trace", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("correlation", ["uuid7", "run-7"])
async def test_trace_prints_who_caused_what(
    client: aioredis.Redis, config: BusConfig, redis_url: str, monkeypatch: pytest.MonkeyPatch, correlation: str
) -> None:
    """Root by the publisher, two outputs under it by counter, each after the handler's 50 ms, the dead-lettered
    ones marked; another run's events are not in the tree."""
    run = new_id() if correlation == "uuid7" else correlation
    pub = Publisher(client, config)
    root_id = await pub.publish(ItemCreated(title="traced"), correlation_id=run)
    await pub.publish(ItemCreated(title="other run"))
    subs = subscriptions()
    for sub, name in subs:
        async with running(sub, config, service=name):
            await drain(client, sub)
    for sub, name in subs:  # the outputs, published by counter meanwhile, reach sink and picky
        async with running(sub, config, service=name):
            await drain(client, sub)

    code, out, err = await asyncio.to_thread(invoke, redis_url, monkeypatch, run, "--json")
    assert code == 0, err
    doc = orjson.loads(out)
    assert doc["events"] == 3
    assert doc["producers"] == ["counter", "tests"]
    [root] = doc["roots"]
    assert (root["id"], root["type"], root["producer"], root["after_ms"]) == (
        root_id,
        "testing.item.created",
        "tests",
        None,
    )
    children = root["children"]
    assert [c["type"] for c in children] == ["testing.item.counted"] * 2
    assert {c["producer"] for c in children} == {"counter"}
    assert all(c["after_ms"] >= 50 for c in children)
    assert all(c["dead_lettered"] == "picky: PermanentError" for c in children)
    assert root["dead_lettered"] is None
    assert doc["dead_lettered"] == 2

    code, out, _ = await asyncio.to_thread(invoke, redis_url, monkeypatch, run)
    assert code == 0
    assert f"run {run}: 3 events by counter, tests" in out
    assert out.count("testing.item.counted") == 2
    assert "dead-lettered (picky: PermanentError)" in out


async def test_trace_of_an_unknown_run_is_one_line(
    client: aioredis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No event carries the id: exit 1, one `aiwf:` line."""
    code, out, err = await asyncio.to_thread(invoke, redis_url, monkeypatch, new_id())
    assert code == 1
    assert out == ""
    assert err.startswith("aiwf: no event with correlation id")
    assert len(err.strip().splitlines()) == 1
