"""Publish at the edge: caller-fixed event ids, id validation, named streams, headers, trace context."""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

import orjson
import pytest
import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from aiwf.bus import Context, Publisher, PublishRefused, Subscription, codec, keys, telemetry
from aiwf.bus.config import BusConfig
from aiwf.bus.publish import CALLER_ID, build
from aiwf.schemas import Event, new_id
from tests.contract.harness import drain, running
from tests.events import ItemCounted, ItemCreated
from tests.replies import Entries


@pytest.fixture
def tracing() -> None:
    """An SDK TracerProvider, so publishes record spans and carry a traceparent."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    telemetry.refresh()


async def bodies(client: aioredis.Redis, domain: str) -> list[dict[str, Any]]:
    """The envelope JSON of every entry on a domain stream, oldest first."""
    return [orjson.loads(f[b"body"]) for _, f in cast("Entries", await client.xrange(keys.stream(domain)))]


async def test_a_publish_retried_with_the_same_event_id_has_one_effect(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """Two publishes with one caller-fixed event id: the handler runs once and one output is written."""
    pub = Publisher(client, config)
    eid = new_id()
    assert await pub.publish(ItemCreated(title="once"), event_id=eid) == eid
    assert await pub.publish(ItemCreated(title="once"), event_id=eid) == eid
    sub = Subscription(stream="testing", group="dedupe")
    runs: Counter[str] = Counter()

    @sub.handler
    async def count(event: ItemCreated, ctx: Context) -> list[Event]:
        runs[ctx.envelope.id] += 1
        return [ItemCounted(source_title=event.title, n=1)]

    async with running(sub, config):
        await drain(client, sub)
    assert runs == Counter({eid: 1})
    entries = cast("Entries", await client.xrange(keys.stream("testing")))
    assert [f[codec.FIELD_REDELIVERY.encode()] for _, f in entries[:2]] == [CALLER_ID.encode()] * 2
    outputs = [b for b in await bodies(client, "testing") if b["type"] == "testing.item.counted"]
    assert [o["causation_id"] for o in outputs] == [eid]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"event_id": "x" * 65}, "event id is 65 characters; the limit is 64"),
        ({"event_id": "has space"}, "event id 'has space' must be"),
        ({"correlation_id": "c" * 200}, "correlation id is 200 characters; the limit is 64"),
        ({"correlation_id": "line\nbreak"}, "correlation id 'line\\nbreak' must be"),
        ({"causation_id": ""}, "causation id '' must be"),
        ({"causation_id": "é"}, "causation id 'é' must be"),
    ],
)
async def test_bad_ids_are_refused_at_publish_in_one_line(
    client: aioredis.Redis, config: BusConfig, kwargs: dict[str, Any], says: str
) -> None:
    """A too long or malformed event, correlation or causation id is refused in one line; nothing is written."""
    with pytest.raises(PublishRefused) as caught:
        await Publisher(client, config).publish(ItemCreated(title="t"), **kwargs)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.event_id == kwargs.get("event_id")
    assert await client.xlen(keys.stream("testing")) == 0


def test_the_cli_edge_refuses_an_overlong_correlation_id() -> None:
    """build() (what `aiwf publish` calls) refuses a correlation id the consumers would dead-letter."""
    with pytest.raises(PublishRefused, match="correlation id is 65 characters"):
        build("testing.item.created", {"title": "t"}, producer="cli", correlation_id="c" * 65)
    env = build("testing.item.created", {"title": "t"}, producer="cli", event_id="fixed-1", headers={"k": "v"})
    assert (env.id, env.correlation_id, env.headers) == ("fixed-1", "fixed-1", {"k": "v"})


async def test_an_error_carries_the_event_id_it_used(client: aioredis.Redis, redis_url: str) -> None:
    """A refused publish says which event id it used, whether the caller fixed it or not."""
    pub = Publisher(client, BusConfig(redis_url=redis_url, max_event_bytes=1024))
    with pytest.raises(PublishRefused, match="over AIWF_MAX_EVENT_BYTES") as caught:
        await pub.publish(ItemCreated(title="x" * 2000))
    generated = caught.value.event_id
    assert generated is not None
    assert len(generated) == 36
    with pytest.raises(PublishRefused) as again:
        await pub.publish(ItemCreated(title="x" * 2000), event_id=generated)
    assert again.value.event_id == generated
    with pytest.raises(PublishRefused) as many:
        await pub.publish_many([ItemCreated(title="ok"), ItemCreated(title="x" * 2000)])
    assert len(many.value.event_ids) == 2
    assert await client.xlen(keys.stream("testing")) == 0  # all or none: the good one was not sent


async def test_publish_many_carries_trace_context_and_causation(
    client: aioredis.Redis, config: BusConfig, tracing: None
) -> None:
    """Events of one publish_many call carry a traceparent, the causation id and the correlation id given."""
    ids = await Publisher(client, config).publish_many(
        [ItemCreated(title="a"), ItemCreated(title="b")], correlation_id="corr-9", causation_id="cause-9"
    )
    rows = await bodies(client, "testing")
    assert [r["id"] for r in rows] == ids
    for row in rows:
        assert isinstance(row["traceparent"], str)
        assert row["traceparent"].startswith("00-")
        assert (row["correlation_id"], row["causation_id"]) == ("corr-9", "cause-9")


async def test_publish_to_a_named_stream(client: aioredis.Redis, config: BusConfig) -> None:
    """publish(stream="orders") writes to the orders stream, where a subscription of that stream handles it."""
    pub = Publisher(client, config)
    eid = await pub.publish(ItemCreated(title="topic"), stream="orders")
    assert await client.xlen(keys.stream("testing")) == 0
    sub = Subscription(stream="orders", group="orders")
    seen: list[str] = []

    @sub.handler
    async def take(event: ItemCreated, ctx: Context) -> list[Event]:
        seen.append(ctx.envelope.id)
        return [ItemCounted(source_title=event.title, n=1)]

    async with running(sub, config):
        await drain(client, sub)
    assert seen == [eid]
    # Outputs are committed to their own type's domain stream, as before.
    assert [b["causation_id"] for b in await bodies(client, "testing")] == [eid]
    for bad in ("Orders", "a b", "", "es-store", "x" * 64):
        with pytest.raises(PublishRefused, match="stream name"):
            await pub.publish(ItemCreated(title="t"), stream=bad)


async def test_headers_reach_the_handler_and_outputs_get_their_own(client: aioredis.Redis, config: BusConfig) -> None:
    """Headers travel on the envelope to the handler; its outputs start with none."""
    pub = Publisher(client, config)
    await pub.publish(ItemCreated(title="h"), headers={"tenant": "acme", "x-request-id": "r-1"})
    sub = Subscription(stream="testing", group="headers")
    seen: list[dict[str, str]] = []

    @sub.handler
    async def take(event: ItemCreated, ctx: Context) -> list[Event]:
        seen.append(dict(ctx.envelope.headers))
        return [ItemCounted(source_title=event.title, n=1)]

    async with running(sub, config):
        await drain(client, sub)
    assert seen == [{"tenant": "acme", "x-request-id": "r-1"}]
    output = next(b for b in await bodies(client, "testing") if b["type"] == "testing.item.counted")
    assert "headers" not in output


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({f"k{i}": "v" for i in range(17)}, "17 headers; the limit is 16"),
        ({"big": "v" * 1025}, "header 'big' is 1025 characters"),
        ({f"k{i}": "v" * 1000 for i in range(5)}, "headers are 5010 bytes; the limit is 4096"),
        ({"bad key": "v"}, "header name 'bad key' must match"),
    ],
)
async def test_headers_over_their_bounds_are_refused(
    client: aioredis.Redis, config: BusConfig, headers: dict[str, str], says: str
) -> None:
    """Too many, too long or badly named headers are PublishRefused at publish."""
    with pytest.raises(PublishRefused, match=says):
        await Publisher(client, config).publish(ItemCreated(title="t"), headers=headers)
    assert await client.xlen(keys.stream("testing")) == 0
