"""The consume path's throughput with the metrics middleware (and structured logging) on and off, in one run.

    .venv/bin/python bench/metrics_bench.py [--events 20000] [--rounds 3] [--logging] [--log-level INFO]

bus_bench.py's phase 7 (pre-filled stream, one output per input, timed until every input is
committed), run with DEFAULT_MIDDLEWARE ("on": handler histogram, failure counter, outcome and
commit figures) and with the same stack less `metrics` ("off": no figure at all is recorded).
On and off alternate within each round, so load on the machine hits both alike; each figure is
the median of the rounds. Prints both, the ratio of the medians and the median of each round's
ratio (the steadier of the two on a shared machine).

--logging compares everything a worker adds for observability against none of it: "on" is
DEFAULT_MIDDLEWARE (logging, tracing, metrics, timeout) with bus/logs.py's JSON-lines logging
configured at --log-level into a file, as `aiwf up` collects it; "off" is the stack less
`logging_middleware` and `metrics`, with that logging handler removed. At INFO a handled event
writes no line (only failures do); --log-level DEBUG writes one `handled` line per event.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import redis.asyncio as aioredis
from bus_bench import (
    GROUP,
    IN_STREAM,
    MARKER_TTL_S,
    OUT_STREAM,
    Data,
    bench_subscription,
    prefill,
    prepare,
    redis_url,
    wait_processed,
)

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import connect
from aiwf.bus.consume import Consumer
from aiwf.bus.logs import configure_logging, reset_logging
from aiwf.bus.middleware import DEFAULT_MIDDLEWARE, Middleware, metrics
from aiwf.bus.middleware.logging import logging_middleware

WITH = DEFAULT_MIDDLEWARE
WITHOUT = tuple(m for m in DEFAULT_MIDDLEWARE if m is not metrics)
#: DEFAULT_MIDDLEWARE less the observability middleware (the logging one is a closure made once).
_LOGGING = getattr(logging_middleware(), "__qualname__", "")
BARE = tuple(m for m in DEFAULT_MIDDLEWARE if m is not metrics and getattr(m, "__qualname__", "") != _LOGGING)


@contextlib.asynccontextmanager
async def consumer(url: str, config: BusConfig, middleware: Sequence[Middleware]) -> AsyncIterator[Consumer]:
    """A Consumer of the bench subscription with `middleware`, stopped on exit."""
    client = connect(url, config)
    running = Consumer(client, config, bench_subscription(), "bench", middleware=middleware)
    task = asyncio.create_task(running.run())
    try:
        yield running
    finally:
        running.stop()
        await asyncio.wait_for(task, 10)
        await client.aclose()


async def consume(
    r: aioredis.Redis, url: str, config: BusConfig, d: Data, middleware: Sequence[Middleware]
) -> tuple[float, float]:
    """Events/s from the consumer's start until every pre-filled input is committed, and this process's
    CPU microseconds per event meanwhile (steadier than wall time on a loaded machine)."""
    await r.flushdb()
    await prefill(r, IN_STREAM, d.inputs)
    await r.xgroup_create(IN_STREAM, GROUP, id="0")
    n = len(d.inputs)
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    async with consumer(url, config, middleware) as running:
        await wait_processed(running, n)
        elapsed = time.perf_counter() - start
        cpu_us = (time.process_time() - cpu) / n * 1e6
    if await r.xlen(OUT_STREAM) != n or running.stats.failed:
        raise RuntimeError(f"consume: outputs={await r.xlen(OUT_STREAM)} failed={running.stats.failed}")
    if (running.metrics is None) == (middleware is WITH):
        raise RuntimeError("the metrics middleware did not decide whether figures were recorded")
    return n / elapsed, cpu_us


async def run(events: int, rounds: int, log_file: Path | None, log_level: str) -> None:
    d = prepare(events)
    on: list[float] = []
    off: list[float] = []
    cpu: dict[bool, list[float]] = {True: [], False: []}
    what = "metrics+logging" if log_file is not None else "metrics"
    without_ = BARE if log_file is not None else WITHOUT
    with redis_url() as (url, source):
        config = BusConfig(redis_url=url, producer="bench", marker_ttl_s=MARKER_TTL_S)
        r = aioredis.Redis.from_url(url)
        print(f"redis via {source}; {events:,} events per phase, {rounds} rounds; {what} on vs off")
        try:
            for n in range(1, rounds + 1):
                first, second = (WITH, without_) if n % 2 else (without_, WITH)
                for middleware in (first, second):
                    with _logging(log_file if middleware is WITH else None, log_level):
                        rate, cpu_us = await consume(r, url, config, d, middleware)
                    (on if middleware is WITH else off).append(rate)
                    cpu[middleware is WITH].append(cpu_us)
                    state = "on " if middleware is WITH else "off"
                    print(f"  round {n} {what} {state} {rate:>10,.0f} ev/s {cpu_us:7.1f} us cpu/ev", flush=True)
            await r.flushdb()
        finally:
            await r.aclose()
    with_, without = statistics.median(on), statistics.median(off)
    print(f"consume, {what} on : {with_:>10,.0f} ev/s (median of {rounds})")
    print(f"consume, {what} off: {without:>10,.0f} ev/s (median of {rounds})")
    paired = statistics.median(a / b for a, b in zip(on, off, strict=True))
    print(f"ratio on/off        : {with_ / without:.3f} (medians); {paired:.3f} (median of each round's pair)")
    cpu_on, cpu_off = statistics.median(cpu[True]), statistics.median(cpu[False])
    print(f"CPU per event       : on {cpu_on:.1f} us, off {cpu_off:.1f} us (medians); off/on {cpu_off / cpu_on:.3f}")


@contextlib.contextmanager
def _logging(log_file: Path | None, level: str) -> Iterator[None]:
    """bus/logs.py's JSON lines into `log_file` for the phase (none at all when None)."""
    if log_file is None:
        yield
        return
    with log_file.open("a", encoding="utf-8") as out:
        configure_logging("bench", fmt="json", level=level, stream=out)
        try:
            yield
        finally:
            reset_logging()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each figure is their median")
    parser.add_argument("--logging", action="store_true", help="structured logging and metrics on vs both off")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO"], help="with --logging")
    args = parser.parse_args()
    if args.events < 100 or args.rounds < 1:
        parser.error("need --events >= 100 and --rounds >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        log_file = Path(tmp) / "bench.log" if args.logging else None
        asyncio.run(run(args.events, args.rounds, log_file, args.log_level))
        if log_file is not None and log_file.exists():
            lines = log_file.read_text().count("\n")
            print(f"log lines written while on: {lines:,}")


if __name__ == "__main__":
    main()
