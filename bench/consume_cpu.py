"""CPU per consumed event, in this process, for the bus consumer against raw redis-py.

    .venv/bin/python bench/consume_cpu.py [--events N] [--profile]

Wall-clock figures move with whatever else the machine runs; the CPU this process spends per
event moves much less, so this is the figure to compare when changing the consume path. Both
phases read the same pre-filled stream; the raw phase reads, runs the same Lua commit and acks.
--profile prints cProfile's top functions by own time for the bus phase (--dump FILE keeps them).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bus_bench as b
import redis.asyncio as aioredis

from aiwf.bus import keys
from aiwf.bus.config import BusConfig


def report(phase: str, used_s: float, wall_s: float, n: int) -> None:
    print(f"{phase:<24} {used_s / n * 1e6:7.1f} µs CPU/event  {n / wall_s:9,.0f} events/s")


async def raw_phase(r: aioredis.Redis, d: b.Data) -> None:
    """bus_bench's raw read + Lua commit, timed without its prefill."""
    n = len(d.inputs)
    await b.prefill(r, b.IN_STREAM, d.inputs)
    await r.xgroup_create(b.IN_STREAM, b.GROUP, id="0")
    script = r.register_script(b.RAW_COMMIT_LUA)

    async def commit(batch: list[Any]) -> None:
        ks: list[str] = [b.IN_STREAM, b.OUT_STREAM]
        args: list[str | bytes] = [b.GROUP, str(b.MARKER_TTL_S)]
        for entry_id, fields in batch:
            out = d.outputs[b.text(fields[b"id"])]
            ks.append(keys.processed(b.IN_DOMAIN, b.GROUP, b.text(fields[b"id"])))
            args += [entry_id, out["id"], out["type"], out["body"]]
        await script(keys=ks, args=args)

    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await b.read_batches(r, n, commit)
    report("raw read + lua commit", time.process_time() - cpu, time.perf_counter() - wall, n)


async def bus_phase(r: aioredis.Redis, url: str, d: b.Data, profiler: cProfile.Profile | None) -> None:
    """bus_bench's bus consume, timed without its prefill."""
    n = len(d.inputs)
    await b.prefill(r, b.IN_STREAM, d.inputs)
    await r.xgroup_create(b.IN_STREAM, b.GROUP, id="0")
    gc.collect()
    if profiler:
        profiler.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    async with b.consumer_running(url, BusConfig(), b.bench_subscription()) as consumer:
        await b.wait_processed(consumer, n)
        report("bus consume", time.process_time() - cpu, time.perf_counter() - wall, n)
    if profiler:
        profiler.disable()


async def run(args: argparse.Namespace) -> None:
    d = b.prepare(args.events)
    with b.redis_url() as (url, _):
        raw = aioredis.Redis.from_url(url)
        for _ in range(args.rounds):
            await raw.flushdb()
            await raw_phase(raw, d)
            await raw.flushdb()
            profiler = cProfile.Profile() if args.profile else None
            await bus_phase(raw, url, d, profiler)
            if profiler:
                if args.dump:
                    profiler.dump_stats(args.dump)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(args.top)
        await raw.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--dump", help="with --profile: also write the pstats file here")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
