"""Processed-marker memory: bytes per event of one string key each (before) and of the
per-second sharded hashes of bus/markers.py (after), written by the real commit script.

    .venv/bin/python bench/marker_bench.py [--markers 200000] [--server PATH]

Uses REDIS_URL, else an embedded redis-server (the bus's default), stopped at the end.
Each row FLUSHDBs, commits `--markers` markers through `Committer` (500 per EVALSHA, no
outputs) as group `llm` on domain `documents`, and divides the `INFO memory` used_memory delta
by the count. "before": UUIDv4 ids, which keep the plain `SET key 1 EX ttl` marker, byte for
byte the old scheme. "after": UUIDv7 ids whose timestamps advance at the given rate, so a
second of ids fills its SHARDS hashes the way that rate would. The window row multiplies by
the events a marker TTL holds at 2,900 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis.asyncio as aioredis

from aiwf.bus import keys, markers
from aiwf.bus.commit import CommitBatch, Committer
from aiwf.bus.config import BusConfig
from aiwf.bus.server import EmbeddedRedis

DOMAIN, GROUP, BATCH = "documents", "llm", 500
START_MS = 1_767_000_000_000
DESIGN_RATE = 2900
RATES = (290, DESIGN_RATE, 10 * DESIGN_RATE)


def uuid7_at(ms: int) -> str:
    """A UUIDv7 made at `ms`."""
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = 0x70 | (raw[6] & 0x0F)
    raw[8] = 0x80 | (raw[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(raw)))


async def used(client: aioredis.Redis) -> int:
    """used_memory, in bytes."""
    return int((await client.info("memory"))["used_memory"])


async def bytes_per_marker(client: aioredis.Redis, config: BusConfig, ids: list[str]) -> float:
    """used_memory delta per marker after committing one marker per id."""
    await client.flushdb()
    committer = Committer(client, config)
    await committer.commit(CommitBatch(DOMAIN, GROUP, config.marker_ttl_s))  # nothing: loads the client
    before = await used(client)
    for at in range(0, len(ids), BATCH):
        batch = CommitBatch(DOMAIN, GROUP, config.marker_ttl_s)
        for n, eid in enumerate(ids[at : at + BATCH]):
            batch.ok(f"1-{at + n}", eid, [])
        await committer.commit(batch)
    return (await used(client) - before) / len(ids)


async def encodings(client: aioredis.Redis) -> str:
    """How the marker hashes of the current database are encoded, with counts."""
    seen: dict[str, int] = {}
    async for key in client.scan_iter(match=keys.processed_bucket(DOMAIN, GROUP, "*", "*"), count=1000):
        kind = (await client.object("encoding", key)).decode()
        seen[kind] = seen.get(kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(seen.items()))


async def run(url: str, count: int) -> None:
    """Print one row per scheme and rate, then the ratio and the window."""
    client = aioredis.Redis.from_url(url)
    config = BusConfig(redis_url=url, producer="bench")
    server = (await client.info("server"))["redis_version"]
    print(f"redis {server}, hash listpack entries {await markers.listpack_entries(client)}, {count:,} markers")
    print(f"SHARDS={markers.SHARDS} BUCKET_MS={markers.BUCKET_MS}, marker TTL {config.marker_ttl_s} s")
    old = await bytes_per_marker(client, config, [str(uuid.uuid4()) for _ in range(count)])
    print(f"{'before: string key per event':44} {old:7.1f} B/event")
    after: dict[int, float] = {}
    for rate in RATES:
        ids = [uuid7_at(START_MS + n * 1000 // rate) for n in range(count)]
        after[rate] = await bytes_per_marker(client, config, ids)
        label = f"after: buckets at {rate:,} events/s"
        print(f"{label:44} {after[rate]:7.1f} B/event  ({await encodings(client)})")
    print(f"ratio before/after at {DESIGN_RATE:,}/s: {old / after[DESIGN_RATE]:.1f}x")
    window = DESIGN_RATE * config.marker_ttl_s
    print(
        f"window at {DESIGN_RATE:,}/s for {config.marker_ttl_s / 86400:g} days ({window:,} events): "
        f"before {old * window / 1e9:.0f} GB, after {after[DESIGN_RATE] * window / 1e9:.0f} GB"
    )
    await client.flushdb()
    await client.aclose()


def main() -> None:
    """Run against REDIS_URL or a private embedded Redis."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markers", type=int, default=200_000)
    parser.add_argument("--server", help="redis-server binary (default: the bus's choice)")
    args = parser.parse_args()
    count = args.markers
    if os.environ.get("REDIS_URL"):
        asyncio.run(run(os.environ["REDIS_URL"], count))
        return
    with (
        tempfile.TemporaryDirectory(prefix="aiwf-bench-") as data,
        EmbeddedRedis(Path(data), binary=args.server) as server,
    ):
        asyncio.run(run(server.url, count))


if __name__ == "__main__":
    main()
