"""bench: 1 % of handlers sleep 5 s — the bus's continuous dispatch against a batch-barrier loop.

The barrier loop is the shape of the consumer before the redesign, written with raw redis-py:
XREADGROUP COUNT 100, run the whole batch's handlers with asyncio.gather, then one Lua commit
of the batch (bus_bench's RAW_COMMIT_LUA), so one slow handler holds its 99 neighbours and the
next read. Both loops get the same paced producer (the bus Publisher) and the same observer,
which reads the output stream and takes `now - sent` of every output: publish-to-commit latency.

    .venv/bin/python bench/slow_bench.py [--rate 500] [--seconds 10] [--slow-s 5] [--concurrency 64] [--limit-s 30]

Each loop is observed for at most --limit-s; what was not committed by then is `unfinished`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
import redis.asyncio as aioredis
from bus_bench import GROUP, MARKER_TTL_S, PIPE, RAW_COMMIT_LUA, consumer_running, redis_url

from aiwf.bus import Context, Publisher, Subscription, keys
from aiwf.bus.config import BusConfig
from aiwf.schemas import Event, event

IN_DOMAIN, OUT_DOMAIN = "slowbench", "slowbenchout"
IN_STREAM, OUT_STREAM = keys.stream(IN_DOMAIN), keys.stream(OUT_DOMAIN)
SLOW_EVERY = 100  # 1 %


@event("slowbench.item.created", version=1)
class SlowCreated(Event):
    """An input; `sent` is the producer's perf_counter() stamp."""

    seq: int
    sent: float


@event("slowbenchout.item.done", version=1)
class SlowDone(Event):
    """The one output per input, carrying the input's stamp on to the observer."""

    seq: int
    sent: float
    slow: bool


async def produce(pub: Publisher, rate: float, total: int) -> None:
    start = time.perf_counter()
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await pub.publish(SlowCreated(seq=i, sent=time.perf_counter()))


async def observe(r: aioredis.Redis, total: int, fast: list[float], slow: list[float], limit_s: float) -> None:
    """Read outputs as they land, for at most `limit_s`; record publish-to-commit latency in ms."""
    last, deadline = "0-0", time.perf_counter() + limit_s
    while len(fast) + len(slow) < total and time.perf_counter() < deadline:
        reply = cast("list[Any]", await r.xread({OUT_STREAM: last}, count=1000, block=1000))
        for _, entries in reply:
            for entry_id, fields in entries:
                last = entry_id
                payload = orjson.loads(fields[b"body"])["payload"]
                ms = (time.perf_counter() - payload["sent"]) * 1000
                (slow if payload["slow"] else fast).append(ms)


Run = Callable[[], Awaitable[None]]


async def bus_loop(url: str, config: BusConfig, slow_s: float, concurrency: int, run: Run) -> None:
    sub = Subscription(stream=IN_DOMAIN, group=GROUP, batch=PIPE, concurrency=concurrency, timeout_s=slow_s * 4)

    @sub.handler
    async def handle(ev: SlowCreated, ctx: Context) -> list[Event]:
        is_slow = ev.seq % SLOW_EVERY == 0
        if is_slow:
            await asyncio.sleep(slow_s)
        return [SlowDone(seq=ev.seq, sent=ev.sent, slow=is_slow)]

    async with consumer_running(url, config, sub):
        await run()


async def barrier_loop(r: aioredis.Redis, slow_s: float, run: Run) -> None:
    script = r.register_script(RAW_COMMIT_LUA)

    async def handle(fields: dict[bytes, bytes]) -> tuple[str, str, bytes]:
        payload = orjson.loads(fields[b"body"])["payload"]
        is_slow = payload["seq"] % SLOW_EVERY == 0
        if is_slow:
            await asyncio.sleep(slow_s)
        out = {"payload": {"seq": payload["seq"], "sent": payload["sent"], "slow": is_slow}}
        return fields[b"id"].decode(), "slowbenchout.item.done", orjson.dumps(out)

    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():  # a flag as well as the cancel: redis-py may swallow a cancel (3.11)
            reply = cast("list[Any]", await r.xreadgroup(GROUP, "barrier", {IN_STREAM: ">"}, count=PIPE, block=100))
            if not reply:
                continue
            batch = reply[0][1]
            done = await asyncio.gather(*(handle(fields) for _, fields in batch))  # the barrier
            ks: list[str] = [IN_STREAM, OUT_STREAM]
            args: list[str | bytes] = [GROUP, str(MARKER_TTL_S)]
            for (entry_id, _), (event_id, type_, body) in zip(batch, done, strict=True):
                ks.append(keys.processed(IN_DOMAIN, GROUP, event_id))
                args += [entry_id, event_id, type_, body]
            await script(keys=ks, args=args)

    task = asyncio.create_task(loop())
    try:
        await run()
    finally:
        stop.set()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def report(name: str, fast: list[float], slow: list[float], elapsed: float, total: int) -> dict[str, float]:
    """One line: throughput, latency of the fast events, and how many were still not committed."""
    fast.sort()
    row = {
        "unfinished": total - len(fast) - len(slow),
        "throughput": (len(fast) + len(slow)) / elapsed,
        "p50": statistics.median(fast),
        "p99": fast[min(len(fast) - 1, int(len(fast) * 0.99))],
        "max": fast[-1],
        "slow_p50": statistics.median(slow) if slow else 0.0,
    }
    print(
        f"{name:<28} {row['throughput']:>9,.0f} ev/s   fast p50 {row['p50']:>8.2f} ms   p99 {row['p99']:>8.2f} ms"
        f"   max {row['max']:>8.1f} ms   slow p50 {row['slow_p50']:>7.0f} ms   unfinished {row['unfinished']:g}",
        flush=True,
    )
    return row


async def one(name: str, url: str, args: argparse.Namespace, kind: str) -> dict[str, float]:
    config = BusConfig(redis_url=url, producer="bench", marker_ttl_s=MARKER_TTL_S)
    r = aioredis.Redis.from_url(url)
    await r.flushdb()
    await r.xgroup_create(IN_STREAM, GROUP, id="0", mkstream=True)
    total = int(args.rate * args.seconds)
    fast: list[float] = []
    slow: list[float] = []
    pub = Publisher(r, config)
    start = time.perf_counter()

    async def run() -> None:
        await asyncio.gather(produce(pub, args.rate, total), observe(r, total, fast, slow, args.limit_s))

    if kind == "bus":
        await bus_loop(url, config, args.slow_s, args.concurrency, run)
    else:
        await barrier_loop(r, args.slow_s, run)
    row = report(name, fast, slow, time.perf_counter() - start, total)
    await r.aclose()
    return row


async def main(args: argparse.Namespace) -> None:
    with redis_url() as (url, source):
        print(
            f"{source}; {args.rate:g} ev/s for {args.seconds:g} s,"
            f" every {SLOW_EVERY}th handler sleeps {args.slow_s:g} s; bus concurrency {args.concurrency}, batch {PIPE}"
        )
        await one("barrier loop (raw redis-py)", url, args, "barrier")
        await one("bus Consumer (continuous)", url, args, "bus")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--slow-s", type=float, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--limit-s", type=float, default=30, help="stop observing after this long")
    asyncio.run(main(parser.parse_args()))
