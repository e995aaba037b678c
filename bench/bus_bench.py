"""Benchmark the bus against raw redis-py and faststream on one Redis, in one run.

    .venv/bin/python bench/bus_bench.py [--events N] [--rounds 3] [--latency-seconds S]

Uses REDIS_URL, else starts a private EmbeddedRedis (the bus's default: AOF, fsync everysec)
and stops it at the end. Every figure is the median of --rounds rounds; FLUSHDB runs before
each phase. Prints a table and writes the same rows to bench/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from aiwf.bus import Context, Publisher, Subscription, codec, keys  # noqa: E402
from aiwf.bus.config import BusConfig  # noqa: E402
from aiwf.bus.connection import connect  # noqa: E402
from aiwf.bus.consume import Consumer  # noqa: E402
from aiwf.bus.server import EmbeddedRedis  # noqa: E402
from aiwf.schemas import Envelope, Event, event  # noqa: E402

PIPE = 100  # pipeline size, read COUNT and Subscription batch everywhere
GROUP = "bench"
IN_DOMAIN = "bench"
OUT_DOMAIN = "benchout"  # outputs on another stream, so the consumer never reads its own outputs
IN_STREAM = keys.stream(IN_DOMAIN)
OUT_STREAM = keys.stream(OUT_DOMAIN)
FS_STREAM = "bench:faststream"
MARKER_TTL_S = 3600
RESULTS = Path(__file__).resolve().parent / "results.json"


@event("bench.item.created", version=1)
class BenchCreated(Event):
    """The input event; `sent` is a perf_counter() stamp for the latency phase."""

    seq: int
    sent: float
    title: str


@event("benchout.item.counted", version=1)
class BenchCounted(Event):
    """The one output per input."""

    source_seq: int
    title: str


# One Lua call per read batch: per event SET NX marker, XADD one output if fresh, XACK.
RAW_COMMIT_LUA = """
local group, ttl = ARGV[1], ARGV[2]
for j = 3, #KEYS do
  local a = 3 + (j - 3) * 4
  if redis.call('SET', KEYS[j], '1', 'NX', 'EX', ttl) then
    redis.call('XADD', KEYS[2], '*', 'id', ARGV[a + 1], 'type', ARGV[a + 2], 'body', ARGV[a + 3])
  end
  redis.call('XACK', KEYS[1], group, ARGV[a])
end
return #KEYS - 2
"""


@dataclass
class Row:
    """One line of the table."""

    figure: str
    value: float
    unit: str
    baseline: str = ""
    ratio: float | None = None
    target: str = ""
    verdict: str = ""
    rounds: list[float] | None = None


@dataclass
class Data:
    """Events prepared once, outside every timed window."""

    created: list[BenchCreated]
    inputs: list[dict[str, str | bytes]]  # codec.encode of a real Envelope per input
    outputs: dict[str, dict[str, str | bytes]]  # input event id -> encoded output envelope


def prepare(n: int) -> Data:
    """Real Envelopes, encoded by the bus's codec, so raw baselines write the same bytes as the bus."""
    created = [BenchCreated(seq=i, sent=0.0, title=f"item-{i:07d}") for i in range(n)]
    inputs, outputs = [], {}
    for ev in created:
        env = Envelope.wrap(ev, producer="bench")
        inputs.append(codec.encode(env))
        out = env.caused(BenchCounted(source_seq=ev.seq, title=ev.title), producer="bench")
        outputs[env.id] = codec.encode(out)
    return Data(created, inputs, outputs)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@contextlib.contextmanager
def redis_url() -> Iterator[tuple[str, str]]:
    """REDIS_URL, else an EmbeddedRedis in a temp dir for the whole run."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"], "REDIS_URL"
        return
    with tempfile.TemporaryDirectory(prefix="aiwf-bench-") as data, EmbeddedRedis(Path(data)) as server:
        yield server.url, "EmbeddedRedis (appendonly yes, appendfsync everysec)"


async def prefill(r: aioredis.Redis, stream: str, inputs: list[dict[str, str | bytes]]) -> None:
    """Untimed: write the inputs with pipelines of 1,000."""
    for i in range(0, len(inputs), 1000):
        pipe = r.pipeline(transaction=False)
        for fields in inputs[i : i + 1000]:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        await pipe.execute()


async def timed(fn: Callable[[], Awaitable[None]]) -> float:
    """Seconds `fn` takes, with the garbage of earlier phases collected first."""
    gc.collect()
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


# -- raw redis-py baselines -------------------------------------------------------------------


async def raw_xadd_serial(r: aioredis.Redis, d: Data) -> float:
    async def go() -> None:
        for fields in d.inputs:
            await r.xadd(IN_STREAM, fields)  # type: ignore[arg-type]

    return len(d.inputs) / await timed(go)


async def raw_xadd_pipelined(r: aioredis.Redis, d: Data) -> float:
    async def go() -> None:
        for i in range(0, len(d.inputs), PIPE):
            pipe = r.pipeline(transaction=False)
            for fields in d.inputs[i : i + PIPE]:
                pipe.xadd(IN_STREAM, fields)  # type: ignore[arg-type]
            await pipe.execute()

    return len(d.inputs) / await timed(go)


async def read_batches(r: aioredis.Redis, n: int, on_batch: Callable[[list[Any]], Awaitable[None]]) -> None:
    """XREADGROUP COUNT 100 until `n` entries were read, handing each batch to `on_batch`."""
    seen = 0
    while seen < n:
        reply: Any = await r.xreadgroup(GROUP, "raw", {IN_STREAM: ">"}, count=PIPE, block=1000)  # RESP2 list
        if not reply:
            raise RuntimeError(f"raw consumer starved after {seen}/{n} entries")
        batch = reply[0][1]
        await on_batch(batch)
        seen += len(batch)


async def raw_consume_ack(r: aioredis.Redis, d: Data) -> float:
    await prefill(r, IN_STREAM, d.inputs)
    await r.xgroup_create(IN_STREAM, GROUP, id="0")

    async def ack(batch: list[Any]) -> None:
        await r.xack(IN_STREAM, GROUP, *[eid for eid, _ in batch])

    return len(d.inputs) / await timed(lambda: read_batches(r, len(d.inputs), ack))


async def raw_consume_lua(r: aioredis.Redis, d: Data) -> float:
    await prefill(r, IN_STREAM, d.inputs)
    await r.xgroup_create(IN_STREAM, GROUP, id="0")
    script = r.register_script(RAW_COMMIT_LUA)

    async def commit(batch: list[Any]) -> None:
        ks: list[str] = [IN_STREAM, OUT_STREAM]
        args: list[str | bytes] = [GROUP, str(MARKER_TTL_S)]
        for entry_id, fields in batch:
            event_id = text(fields[b"id"])
            out = d.outputs[event_id]
            ks.append(keys.processed(IN_DOMAIN, GROUP, event_id))
            args += [entry_id, out["id"], out["type"], out["body"]]
        await script(keys=ks, args=args)

    rate = len(d.inputs) / await timed(lambda: read_batches(r, len(d.inputs), commit))
    if await r.xlen(OUT_STREAM) != len(d.inputs):
        raise RuntimeError("raw Lua commit wrote the wrong number of outputs")
    return rate


# -- the bus ----------------------------------------------------------------------------------


async def bus_publish_serial(client: aioredis.Redis, config: BusConfig, d: Data) -> float:
    pub = Publisher(client, config)

    async def go() -> None:
        for ev in d.created:
            await pub.publish(ev)

    return len(d.created) / await timed(go)


async def bus_publish_concurrent(client: aioredis.Redis, config: BusConfig, d: Data, tasks: int = PIPE) -> float:
    """`tasks` producers, each awaiting its own publishes; the Publisher coalesces them."""
    pub = Publisher(client, config)
    share = [d.created[i::tasks] for i in range(tasks)]

    async def producer(events: list[BenchCreated]) -> None:
        for ev in events:
            await pub.publish(ev)

    async def go() -> None:
        await asyncio.gather(*(producer(s) for s in share))

    rate = len(d.created) / await timed(go)
    if await client.xlen(IN_STREAM) != len(d.created):
        raise RuntimeError("concurrent publish lost events")
    return rate


def bench_subscription(on_event: Callable[[BenchCreated], None] | None = None) -> Subscription:
    """batch=100; the handler returns one BenchCounted per input (committed by the bus's Lua)."""
    sub = Subscription(stream=IN_DOMAIN, group=GROUP, batch=PIPE)

    async def count(ev: BenchCreated, ctx: Context) -> list[Event]:
        if on_event is not None:
            on_event(ev)
        return [BenchCounted(source_seq=ev.seq, title=ev.title)]

    sub.on(BenchCreated, count)
    return sub


@contextlib.asynccontextmanager
async def consumer_running(url: str, config: BusConfig, sub: Subscription) -> Any:
    client = connect(url, config)
    consumer = Consumer(client, config, sub, "bench")
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 10)
        await client.aclose()


async def wait_processed(consumer: Consumer, n: int, timeout_s: float = 60.0) -> None:
    """Poll the consumer's own counter (no Redis calls): it moves after each batch commit."""
    deadline = time.monotonic() + timeout_s
    while consumer.stats.processed < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"bus consumer handled {consumer.stats.processed}/{n} in {timeout_s}s")
        await asyncio.sleep(0.002)


async def bus_consume(r: aioredis.Redis, url: str, config: BusConfig, d: Data) -> float:
    """Pre-filled stream; timed from the Consumer's start until every input is committed."""
    await prefill(r, IN_STREAM, d.inputs)
    # The group exists before the clock starts, as in the raw phases (a group the consumer creates
    # itself over an existing backlog checks that backlog's markers once: a cold start, not this figure).
    await r.xgroup_create(IN_STREAM, GROUP, id="0")
    n = len(d.inputs)
    sub = bench_subscription()
    gc.collect()
    start = time.perf_counter()
    async with consumer_running(url, config, sub) as consumer:
        await wait_processed(consumer, n)
        elapsed = time.perf_counter() - start
    if await r.xlen(OUT_STREAM) != n or consumer.stats.failed:
        raise RuntimeError(f"bus consume: outputs={await r.xlen(OUT_STREAM)} failed={consumer.stats.failed}")
    return n / elapsed


# -- faststream -------------------------------------------------------------------------------


async def faststream_consume(r: aioredis.Redis, url: str, d: Data) -> float:
    """faststream 0.7 per-message StreamSub (default ack policy: XACK after each handler), logger off."""
    from faststream.redis import RedisBroker, StreamSub  # noqa: PLC0415 - only this phase needs it

    n = len(d.inputs)
    await prefill(r, FS_STREAM, d.inputs)
    # faststream creates a missing group at "$" (new entries only); create it at 0 so it sees the prefill.
    await r.xgroup_create(FS_STREAM, GROUP, id="0")
    broker = RedisBroker(url, logger=None)  # type: ignore[arg-type]  # None turns its per-message logging off
    done = asyncio.Event()
    count = 0

    @broker.subscriber(stream=StreamSub(FS_STREAM, group=GROUP, consumer="fs-1", max_records=PIPE))
    async def handle(body: Any) -> None:
        nonlocal count
        count += 1
        if count >= n:
            done.set()

    gc.collect()
    start = time.perf_counter()
    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), 120)
        elapsed = time.perf_counter() - start
    finally:
        await broker.stop()
    pending = (await r.xpending(FS_STREAM, GROUP))["pending"]
    if pending > 1:  # the last ack may race the stop
        raise RuntimeError(f"faststream left {pending} entries unacknowledged")
    return n / elapsed


# -- latency ----------------------------------------------------------------------------------


async def bus_latency(
    client: aioredis.Redis, url: str, config: BusConfig, rate: float, seconds: float
) -> tuple[float, float, int]:
    """Publisher paced at `rate`/s while a Consumer runs; the handler records now - sent."""
    samples: list[float] = []

    def record(ev: BenchCreated) -> None:
        samples.append(time.perf_counter() - ev.sent)

    total = int(rate * seconds)
    pub = Publisher(client, config)
    async with consumer_running(url, config, bench_subscription(record)) as consumer:
        await asyncio.sleep(0.2)  # group created, first XREADGROUP blocking
        gc.collect()
        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await pub.publish(BenchCreated(seq=i, sent=time.perf_counter(), title=f"item-{i:07d}"))
        await wait_processed(consumer, total)
    samples.sort()
    ms = [s * 1000 for s in samples]
    return ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))], len(ms)


# -- report -----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def build_rows(m: dict[str, list[float]], latency_rate: float) -> list[Row]:
    med = {k: statistics.median(v) for k, v in m.items()}
    rows = [
        Row("1 raw XADD, one awaited at a time", med["1"], "ev/s", rounds=m["1"]),
        Row("2 raw XADD, pipelines of 100", med["2"], "ev/s", rounds=m["2"]),
        Row("3 raw XREADGROUP 100 + 1 XACK/batch", med["3"], "ev/s", rounds=m["3"]),
        Row("4 raw XREADGROUP 100 + 1 EVALSHA(100 x SET NX+XADD+XACK)", med["4"], "ev/s", rounds=m["4"]),
    ]

    def ratio_row(key: str, name: str, base: str, target: float) -> Row:
        ratio = med[key] / med[base]
        return Row(
            name,
            med[key],
            "ev/s",
            f"({base}) {med[base]:,.0f}",
            ratio,
            f">= {target}",
            verdict(ratio >= target),
            m[key],
        )

    rows += [
        ratio_row("5", "5 bus Publisher.publish, awaited one at a time", "1", 0.8),
        ratio_row("6", "6 bus publish, 100 concurrent tasks (coalesced)", "2", 0.7),
        ratio_row("7", "7 bus Consumer end-to-end, batch 100, full commit", "4", 0.6),
        Row("8 faststream StreamSub per-message (XACK each)", med["8"], "ev/s", rounds=m["8"]),
    ]
    ratio = med["7"] / med["8"]
    rows.append(
        Row(
            "7/8 bus consume vs faststream",
            ratio,
            "x",
            f"(8) {med['8']:,.0f}",
            ratio,
            ">= 5",
            verdict(ratio >= 5),
            None,
        )
    )
    rows.append(Row(f"9 latency p50 @ {latency_rate:,.0f} ev/s", med["9p50"], "ms", rounds=m["9p50"]))
    rows.append(
        Row(
            f"9 latency p99 @ {latency_rate:,.0f} ev/s",
            med["9p99"],
            "ms",
            target="<= 1.5",
            verdict=verdict(med["9p99"] <= 1.5),
            rounds=m["9p99"],
        )
    )
    return rows


def print_table(rows: list[Row]) -> None:
    head = f"{'figure':<58} {'value':>14} {'baseline':>16} {'ratio':>7} {'target':>8} {'':>4}"
    print(head)
    print("-" * len(head))
    for row in rows:
        value = f"{row.value:,.0f} {row.unit}" if row.unit == "ev/s" else f"{row.value:.2f} {row.unit}"
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        print(f"{row.figure:<58} {value:>14} {row.baseline:>16} {ratio:>7} {row.target:>8} {row.verdict:>4}")


# -- main -------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> int:
    n = args.events
    print(f"preparing {n:,} envelopes ...", flush=True)
    d = prepare(n)
    m: dict[str, list[float]] = {k: [] for k in ("1", "2", "3", "4", "5", "6", "7", "8", "9p50", "9p99")}
    with redis_url() as (url, source):
        config = BusConfig(redis_url=url, producer="bench", marker_ttl_s=MARKER_TTL_S)
        raw = aioredis.Redis.from_url(url)  # plain redis-py, defaults
        bus_client = connect(url, config)  # the bus's own client settings
        info = await raw.info("server")
        body = len(d.inputs[0][codec.FIELD_BODY])
        print(
            f"redis {info['redis_version']} via {source}; {n:,} events/phase, body {body} bytes, {args.rounds} rounds"
        )

        async def phase(key: str, name: str, fn: Callable[[], Awaitable[float]]) -> None:
            await raw.flushdb()
            value = await fn()
            m[key].append(value)
            print(f"  {name:<34} {value:>12,.0f} ev/s", flush=True)

        try:
            for rnd in range(1, args.rounds + 1):
                print(f"round {rnd}", flush=True)
                await phase("1", "1 raw xadd serial", lambda: raw_xadd_serial(raw, d))
                await phase("2", "2 raw xadd pipelined", lambda: raw_xadd_pipelined(raw, d))
                await phase("3", "3 raw read + xack", lambda: raw_consume_ack(raw, d))
                await phase("4", "4 raw read + lua commit", lambda: raw_consume_lua(raw, d))
                await phase("5", "5 bus publish serial", lambda: bus_publish_serial(bus_client, config, d))
                await phase("6", "6 bus publish concurrent", lambda: bus_publish_concurrent(bus_client, config, d))
                await phase("7", "7 bus consume e2e", lambda: bus_consume(raw, url, config, d))
                await phase("8", "8 faststream StreamSub", lambda: faststream_consume(raw, url, d))
                await raw.flushdb()
                p50, p99, count = await bus_latency(bus_client, url, config, args.latency_rate, args.latency_seconds)
                m["9p50"].append(p50)
                m["9p99"].append(p99)
                print(f"  {'9 latency':<34} p50 {p50:.3f} ms  p99 {p99:.3f} ms  ({count:,} events)", flush=True)
            await raw.flushdb()
        finally:
            await raw.aclose()
            await bus_client.aclose()

    rows = build_rows(m, args.latency_rate)
    print()
    print_table(rows)
    RESULTS.write_text(
        json.dumps(
            {
                "command": " ".join([".venv/bin/python", *sys.argv]),
                "redis": {"version": info["redis_version"], "source": source},
                "events_per_phase": n,
                "rounds": args.rounds,
                "body_bytes": body,
                "latency": {"rate_per_s": args.latency_rate, "seconds_per_round": args.latency_seconds},
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0 if all(r.verdict != "FAIL" for r in rows) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per throughput phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; each figure is their median")
    parser.add_argument("--latency-rate", type=float, default=2_000, help="offered events/s in the latency phase")
    parser.add_argument("--latency-seconds", type=float, default=4.0, help="seconds of latency sampling per round")
    args = parser.parse_args()
    if (
        args.events < PIPE
        or args.rounds < 1
        or not 0 < args.latency_rate <= 20_000
        or not 0 < args.latency_seconds <= 60
    ):
        parser.error("need --events >= 100, --rounds >= 1, 0 < --latency-rate <= 20000, 0 < --latency-seconds <= 60")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
