"""One OpenTelemetry trace follows an event from its publish through every handler it causes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from aiwf.bus import Context, Publisher, Subscription, telemetry
from aiwf.bus.config import BusConfig
from aiwf.schemas import Event
from tests.contract.harness import drain, running
from tests.events import ItemCounted, ItemCreated

EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """An SDK TracerProvider exporting to memory (installed once per process, as OpenTelemetry allows)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)
    telemetry.refresh()
    EXPORTER.clear()
    yield EXPORTER
    EXPORTER.clear()


async def test_publish_and_two_handlers_share_one_trace(
    client: aioredis.Redis, config: BusConfig, spans: InMemorySpanExporter
) -> None:
    """publish -> handle (emits an output) -> handle the output: one trace id, each span the child of the last."""
    first = Subscription(stream="testing", group="first")
    second = Subscription(stream="testing", group="second")

    @first.handler
    async def count(event: ItemCreated, ctx: Context) -> list[Event]:
        return [ItemCounted(source_title=event.title, n=1)]

    @second.handler
    async def sink(event: ItemCounted, ctx: Context) -> list[Event]:
        return []

    await Publisher(client, config).publish(ItemCreated(title="traced"))
    async with running(first, config, service="first"), running(second, config, service="second"):
        await drain(client, first)
        await drain(client, second)
    finished = spans.get_finished_spans()
    publish = next(s for s in finished if s.name == "publish testing.item.created")
    handle = next(s for s in finished if s.name == "handle testing.item.created")
    handle_output = next(s for s in finished if s.name == "handle testing.item.counted")
    assert publish.kind == SpanKind.PRODUCER
    assert handle.kind == handle_output.kind == SpanKind.CONSUMER
    assert publish.context.trace_id == handle.context.trace_id == handle_output.context.trace_id
    assert handle.parent is not None
    assert handle.parent.span_id == publish.context.span_id
    assert handle_output.parent is not None
    assert handle_output.parent.span_id == handle.context.span_id
    assert handle.attributes is not None
    assert handle.attributes["messaging.consumer.group.name"] == "first"
