"""Event store benchmark: appends/s with an expected version and aggregate load times, each
against a raw XADD / XRANGE baseline measured in the same run on the same Redis.

    .venv/bin/python bench/store_bench.py
    AIWF_APPENDFSYNC=always .venv/bin/python bench/store_bench.py

Uses REDIS_URL, else an embedded redis-server with AOF on (appendfsync everysec unless
AIWF_APPENDFSYNC says otherwise), stopped at the end.

Appends go to one aggregate, one after another, each with the expected version the last one
returned; the baseline encodes the same envelopes and XADDs them (pipelined per batch).
Loads rebuild a 10,000-event aggregate (decode + upcast + apply); the baseline is XRANGE of
the same entries without decoding. Appends: median of 3 interleaved rounds; loads: median of 5.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis

from aiwf.bus import codec
from aiwf.bus.config import BusConfig
from aiwf.bus.server import EmbeddedRedis
from aiwf.bus.store import Aggregate, EventStore, Repository
from aiwf.bus.store.stream_id import parse
from aiwf.schemas import Envelope, Event, event

SINGLE_APPENDS = 2000
BATCHED_EVENTS = 5000
LOAD_EVENTS = 10_000
LOAD_REPEATS = 5
#: Rounds of each append measurement; the table shows medians.
ROUNDS = 3


@event("bench.item.added", version=1)
class ItemAdded(Event):
    """A typical small event (about 300 bytes as an envelope)."""

    title: str
    quantity: int


class Counter(Aggregate):
    """Sums quantities; its snapshot is two numbers."""

    category = "bench"

    def __init__(self, aggregate_id: str) -> None:
        super().__init__(aggregate_id)
        self.total = 0
        self.last = ""

    def apply(self, event: Event) -> None:
        if isinstance(event, ItemAdded):
            self.total += event.quantity
            self.last = event.title

    def snapshot_state(self) -> dict[str, Any]:
        return {"total": self.total, "last": self.last}

    def restore_state(self, state: dict[str, Any]) -> None:
        self.total, self.last = int(state["total"]), str(state["last"])


def envelopes(n: int) -> list[Envelope]:
    """`n` fresh envelopes."""
    return [Envelope.wrap(ItemAdded(title=f"item-{i}", quantity=i), producer="bench") for i in range(n)]


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def raw_xadd(client: aioredis.Redis, envs: list[Envelope], batch: int) -> float:
    """Events/s of encode + XADD, one round trip per `batch` (a pipeline when batch > 1)."""
    key = f"bench:raw:{batch}"

    async def run() -> None:
        for i in range(0, len(envs), batch):
            chunk = envs[i : i + batch]
            if batch == 1:
                await client.xadd(key, codec.encode(chunk[0]))  # type: ignore[arg-type]
                continue
            pipe = client.pipeline(transaction=False)
            for env in chunk:
                pipe.xadd(key, codec.encode(env))  # type: ignore[arg-type]
            await pipe.execute()

    return len(envs) / await timed(run)


async def store_append(store: EventStore, envs: list[Envelope], batch: int, sid: str) -> float:
    """Events/s of appends of `batch` events each to `sid`, each with the expected version."""

    async def run() -> None:
        version = 0
        for i in range(0, len(envs), batch):
            version = await store.append(sid, envs[i : i + batch], expected_version=version)

    return len(envs) / await timed(run)


async def median_s(fn: Callable[[], Awaitable[object]]) -> float:
    """Median seconds of LOAD_REPEATS calls."""
    return statistics.median([await timed(fn) for _ in range(LOAD_REPEATS)])


async def build_aggregates(store: EventStore) -> None:
    """bench-full: 10,000 events, snapshot at 10,000. bench-tail: snapshot at 9,000, then 1,000 more."""
    at_end = Repository(store, Counter, snapshot_every=1000)
    at_9000 = Repository(store, Counter, snapshot_every=9000)
    no_snap = Repository(store, Counter)
    for aggregate_id in ("full", "tail"):
        agg = Counter(aggregate_id)
        for v in range(0, LOAD_EVENTS, 100):
            for i in range(v, v + 100):
                agg.record(ItemAdded(title=f"item-{i}", quantity=i))
            repo = at_end if aggregate_id == "full" else at_9000 if v < 9000 else no_snap
            await repo.save(agg)


async def main() -> None:
    url = os.environ.get("REDIS_URL")
    with tempfile.TemporaryDirectory(prefix="aiwf-bench-") as data:
        fsync = os.environ.get("AIWF_APPENDFSYNC", "everysec")
        server = None if url else EmbeddedRedis(Path(data), appendfsync=fsync).start()
        url = url or (server.url if server else "")
        client = aioredis.Redis.from_url(url)
        try:
            await client.flushdb()
            info = await client.info("server")
            persistence = await client.config_get("append*")
            print(
                f"redis {info['redis_version']} at {url}; appendonly={persistence.get('appendonly')} "
                f"appendfsync={persistence.get('appendfsync')}"
            )
            await run(client, BusConfig(redis_url=url, producer="bench"))
        finally:
            await client.aclose()
            if server:
                server.stop()


async def run(client: aioredis.Redis, config: BusConfig) -> None:
    store = EventStore(client, config)
    rows: list[tuple[str, str, str, str]] = []
    await store_append(store, envelopes(200), 10, "bench-warmup")  # warm the script cache and the connection
    for batch, n in ((1, SINGLE_APPENDS), (10, BATCHED_EVENTS), (100, BATCHED_EVENTS)):
        raws, stores = [], []
        for r in range(ROUNDS):  # interleaved, so drift in a shared machine's load hits both alike
            raws.append(await raw_xadd(client, envelopes(n), batch))
            stores.append(await store_append(store, envelopes(n), batch, f"bench-append{batch}-{r}"))
        raw, ours = statistics.median(raws), statistics.median(stores)
        rows.append(
            (
                f"append, batch {batch}",
                f"{ours:,.0f} ev/s ({ours / batch:,.0f} appends/s)",
                f"{raw:,.0f} ev/s XADD" + (" pipelined" if batch > 1 else ""),
                f"{ours / raw:.3g}x",
            )
        )

    await build_aggregates(store)
    full_key = parse("bench-full").events
    raw_all = await median_s(lambda: client.xrange(full_key))
    raw_tail = await median_s(lambda: client.xrange(full_key, min="9001-0"))

    async def xrange_and_json() -> None:
        entries = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(full_key))
        for _, fields in entries:
            codec.parse_json_arg(fields[b"body"], "body")

    raw_json = await median_s(xrange_and_json)
    for label, repo, aggregate_id in (
        ("load 10k, no snapshot", Repository(store, Counter), "full"),
        ("load 10k, snapshot, 0 tail", Repository(store, Counter, snapshot_every=1000), "full"),
        ("load 10k, snapshot + 1k tail", Repository(store, Counter, snapshot_every=9000), "tail"),
    ):
        loaded = await repo.load(aggregate_id)
        if (loaded.version, loaded.total) != (LOAD_EVENTS, sum(range(LOAD_EVENTS))):
            raise SystemExit(f"{label}: loaded the wrong state {loaded.version}, {loaded.total}")
        took = await median_s(lambda repo=repo, aggregate_id=aggregate_id: repo.load(aggregate_id))  # type: ignore[misc]
        rows.append((label, f"{took * 1000:,.1f} ms", f"{raw_all * 1000:,.1f} ms XRANGE 10k", f"{took / raw_all:.3g}x"))
    rows.append(("(raw XRANGE of the 1k tail)", "", f"{raw_tail * 1000:,.1f} ms", ""))
    rows.append(("(raw XRANGE 10k + JSON parse)", "", f"{raw_json * 1000:,.1f} ms", f"{raw_json / raw_all:.3g}x"))

    header = ("measure", "event store", "raw baseline, same run", "store/raw")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    asyncio.run(main())
