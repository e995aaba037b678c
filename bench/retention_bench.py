"""Worker memory of one retention pass over large events: the bus's trim against the old approach.

    .venv/bin/python bench/retention_bench.py [--events 3000] [--size 21000] [--keep 2000]

Uses REDIS_URL, else a private EmbeddedRedis. Fills one stream with `--events` entries of
`--size` bytes, acknowledged by one group, then measures, in this process, the bytes Redis
sent and the peak RSS growth of (1) `retention.trim` and (2) the approach it replaced
(`XREVRANGE + - COUNT keep` to find the keep bound, then XTRIM MINID). (1) runs first, since
peak RSS only grows.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from aiwf.bus import keys, retention  # noqa: E402
from aiwf.bus.server import EmbeddedRedis  # noqa: E402

STREAM = keys.stream("bench")


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bytes_out(client: aioredis.Redis) -> int:
    return int((await client.info("stats"))["total_net_output_bytes"])


async def fill(client: aioredis.Redis, events: int, size: int) -> None:
    await client.delete(STREAM)
    await client.xgroup_create(STREAM, "g", id="0", mkstream=True)
    body = b"x" * size
    for start in range(0, events, 200):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(events, start + 200)):
            pipe.xadd(STREAM, {"id": f"e{i}", "type": "bench.item.created", "body": body})
        await pipe.execute()
    last = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrevrange(STREAM, count=1))[0][0]
    await client.xgroup_setid(STREAM, "g", last)  # the group is done with everything


async def old_pass(client: aioredis.Redis, keep: int) -> None:
    """What retention did before: pull the newest `keep` entries to find the keep bound."""
    floor = await retention.safe_min_id(client, STREAM)
    kept_from = cast("list[tuple[bytes, dict[bytes, bytes]]]", await client.xrevrange(STREAM, count=keep))
    bound = min(floor or "0-0", kept_from[-1][0].decode(), key=lambda e: tuple(map(int, e.split("-"))))
    await client.xtrim(STREAM, minid=bound, approximate=False)


async def measure(client: aioredis.Redis, label: str, args: argparse.Namespace, new: bool) -> None:
    await fill(client, args.events, args.size)
    rss, sent = peak_rss_mb(), await bytes_out(client)
    if new:
        await retention.trim(client, STREAM, keep=args.keep)
    else:
        await old_pass(client, args.keep)
    sent = await bytes_out(client) - sent
    print(
        f"{label:<34} received {sent / 1e6:9.3f} MB   peak RSS +{peak_rss_mb() - rss:7.1f} MB"
        f"   left {await client.xlen(STREAM)}"
    )


@contextlib.asynccontextmanager
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    import os  # noqa: PLC0415 - only here

    if os.environ.get("REDIS_URL"):
        client = aioredis.Redis.from_url(os.environ["REDIS_URL"])
        yield client
        await client.aclose()
        return
    with tempfile.TemporaryDirectory() as data, EmbeddedRedis(Path(data)) as server:
        client = aioredis.Redis.from_url(server.url)
        yield client
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--size", type=int, default=21_000)
    parser.add_argument("--keep", type=int, default=2000)
    args = parser.parse_args()
    async with redis_client() as client:
        print(f"{args.events} events of {args.size} bytes, keep {args.keep}; baseline peak RSS {peak_rss_mb():.1f} MB")
        await measure(client, "retention.trim (ids only)", args, new=True)
        await measure(client, "old: XREVRANGE COUNT keep", args, new=False)
        await client.delete(STREAM)


if __name__ == "__main__":
    asyncio.run(main())
