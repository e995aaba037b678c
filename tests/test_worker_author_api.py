"""The worker-author API as the README shows it: topics, headers, nack, start="$", locally defined models."""

from __future__ import annotations

import redis.asyncio as aioredis

from aiwf.bus import Context, Nack, Publisher, Subscription, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.testing import wait_until
from aiwf.schemas import Event, event
from tests.contract.harness import drain, entries, running
from tests.events import ItemCounted, ItemCreated


async def test_a_handler_reads_headers_of_a_named_stream_and_nacks_without_an_error(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """Published to `uploads` with headers and a fixed id: the handler sees the headers, nacks once,
    and its output lands on its own type's stream; nothing is counted as failed."""
    sub = Subscription(stream="uploads", group="myapp")
    deliveries: list[tuple[int, dict[str, str]]] = []

    @sub.handler
    async def on_item(event: ItemCreated, ctx: Context) -> list[Event] | Nack:
        deliveries.append((ctx.deliveries, dict(ctx.envelope.headers)))
        if ctx.envelope.headers.get("hold") == "yes" and ctx.deliveries == 1:
            return Nack(after_s=0.05)
        return [ItemCounted(source_title=event.title, n=1)]

    event_id = await Publisher(client, config).publish(
        ItemCreated(title="t"), stream="uploads", headers={"hold": "yes", "tenant": "acme"}, event_id="upload-1"
    )
    assert event_id == "upload-1"
    async with running(sub, config) as consumer:
        await drain(client, sub)
    headers = {"hold": "yes", "tenant": "acme"}
    assert deliveries == [(1, headers), (2, headers)]
    assert (consumer.stats.failed, consumer.stats.processed) == (0, 1)
    assert [f[b"type"] for f in await entries(client, "testing")] == [b"testing.item.counted"]


async def test_a_group_starting_at_dollar_reads_only_what_comes_next(client: aioredis.Redis, config: BusConfig) -> None:
    """`start="$"`: events published before the group existed are not handled; later ones are."""
    pub = Publisher(client, config)
    for title in ("old-1", "old-2"):
        await pub.publish(ItemCreated(title=title))
    sub = Subscription(stream="testing", group="fresh", start="$")
    seen: list[str] = []

    @sub.handler
    async def take(event: ItemCreated, ctx: Context) -> list[Event]:
        seen.append(event.title)
        return []

    async with running(sub, config):
        await wait_until(lambda: _group_exists(client, "fresh"), 5, "the group to be created")
        await pub.publish(ItemCreated(title="new"))
        await drain(client, sub)
    assert seen == ["new"]


async def test_a_handler_for_a_locally_defined_model_under_string_annotations(
    client: aioredis.Redis, config: BusConfig
) -> None:
    """A model defined inside a function, annotated as a string (`from __future__ import annotations`)."""

    @event("testing.note.pinned", version=1)
    class NotePinned(Event):
        note: str

    sub = Subscription(stream="testing", group="local")
    seen: list[str] = []

    @sub.handler
    async def take(event: NotePinned, ctx: Context) -> list[Event]:
        seen.append(event.note)
        return []

    assert list(sub.handlers) == ["testing.note.pinned"]
    await Publisher(client, config).publish(NotePinned(note="n-1"))
    async with running(sub, config):
        await drain(client, sub)
    assert seen == ["n-1"]


async def _group_exists(client: aioredis.Redis, group: str) -> bool:
    if not await client.exists(keys.stream("testing")):
        return False
    return any(g["name"].decode() == group for g in await client.xinfo_groups(keys.stream("testing")))
