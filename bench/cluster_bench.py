"""Consume with the commit on a local Redis Cluster, same-slot vs cross-slot outputs, against one node.

    .venv/bin/python bench/cluster_bench.py [--events 20000] [--rounds 3]

Starts, in one run on this machine, an EmbeddedRedis (one node) and a LocalCluster (3 masters,
3 replicas), both from the same redis-server with AOF on (`appendfsync everysec`), and stops both
at the end. Each round prefills `--events` inputs (untimed) and times one bus Consumer (batch 100,
one output per input) from its start until the group has acknowledged every input and every
output is on its destination stream:

    single node         the output goes to another domain's stream, written by the commit itself
    cluster same-slot   the output's stream shares the source's slot: written by the commit itself
    cluster cross-slot  the output's stream is on another slot (and node): the commit writes it into
                        the source's outbox, the consumer's relay moves it (bus/relay.py)

Medians of the rounds, and the ratios to the single node. It also measures bytes per event on a
node (used_memory delta per stream entry of this size) and per outbox entry while it waits.
Same machine, same 2 cores: the figures are about overhead, not scale.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis.asyncio.cluster import RedisCluster  # noqa: E402

from aiwf.bus import Context, Publisher, Subscription, keys  # noqa: E402
from aiwf.bus.cluster import LocalCluster, free_port_base  # noqa: E402
from aiwf.bus.config import BusConfig  # noqa: E402
from aiwf.bus.connection import Redis, connect, is_cluster, slot  # noqa: E402
from aiwf.bus.consume import Consumer  # noqa: E402
from aiwf.bus.server import EmbeddedRedis  # noqa: E402
from aiwf.schemas import Event, event  # noqa: E402

SOURCE = "cbench"


def same_slot_domain(source: str) -> str:
    """A domain name whose stream hashes to the same slot as `source`'s (found by trying names)."""
    want = slot(keys.stream(source))
    return next(f"same{i}" for i in range(1_000_000) if slot(keys.stream(f"same{i}")) == want)


def other_master_domain(source: str) -> str:
    """A domain on another third of the slots: another master under `redis-cli --cluster create`'s split."""
    third = slot(keys.stream(source)) * 3 // 16384
    return next(f"far{i}" for i in range(1_000_000) if slot(keys.stream(f"far{i}")) * 3 // 16384 != third)


SAME = same_slot_domain(SOURCE)
CROSS = other_master_domain(SOURCE)


@event(f"{SOURCE}.item.created", version=1)
class Created(Event):
    """An input."""

    seq: int
    title: str


@event(f"{CROSS}.item.counted", version=1)
class CountedCross(Event):
    """The output on another slot."""

    seq: int
    title: str


@event(f"{SAME}.item.counted", version=1)
class CountedSame(Event):
    """The output on the source's slot."""

    seq: int
    title: str


async def prefill(client: Redis, config: BusConfig, n: int) -> None:
    pub = Publisher(client, config)
    for start in range(0, n, 1000):
        await pub.publish_many([Created(seq=i, title=f"item-{i:07d}") for i in range(start, min(n, start + 1000))])


def _primaries(client: Redis) -> dict[str, Any]:
    return {"target_nodes": RedisCluster.PRIMARIES} if is_cluster(client) else {}


async def redis_usec(client: Redis) -> float:
    """Microseconds of command time every master has spent since the last CONFIG RESETSTAT."""
    info = await client.info("commandstats", **_primaries(client))
    per_node = info.values() if is_cluster(client) else [info]
    return sum(float(v["usec"]) for node in per_node for k, v in node.items() if k.startswith("cmdstat_"))


async def consume_round(
    client: Redis, config: BusConfig, n: int, output: type[CountedCross | CountedSame]
) -> tuple[float, float]:
    """Seconds until every input is acknowledged and every output is on its stream, and Redis µs per event."""
    await client.flushall()
    await prefill(client, config, n)
    raw: Any = client  # RESETSTAT on every master: a command redis-py's stubs leave untyped
    await raw.execute_command("CONFIG RESETSTAT", **_primaries(client))
    out_stream = keys.stream(keys.domain_of(output.event_type))
    sub = Subscription(stream=SOURCE, group="bench", batch=100, concurrency=64)

    @sub.handler
    async def count(ev: Created, ctx: Context) -> list[Event]:
        return [output(seq=ev.seq, title=ev.title)]

    consumer = Consumer(client, config, sub, "bench")
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    while int(await client.xlen(out_stream)) < n or consumer.pending:  # noqa: ASYNC110 - polling Redis, not a flag
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    consumer.stop()
    await task
    return elapsed, await redis_usec(client) / n


async def bytes_per_entry(client: Redis, config: BusConfig, key_of: str, n: int = 20_000) -> float:
    """used_memory delta per published input (its stream entry) on the node that holds `key_of`'s slot."""
    await client.flushall()
    raw: Any = client
    target = {"target_nodes": raw.get_node_from_key(key_of)} if is_cluster(client) else {}
    before = int((await raw.info("memory", **target))["used_memory"])
    await prefill(client, config, n)
    return (int((await raw.info("memory", **target))["used_memory"]) - before) / n


async def bench(events: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="aiwf-cbench-") as folder:
        single = EmbeddedRedis(Path(folder) / "single").start()
        cluster = LocalCluster(Path(folder) / "cluster", free_port_base()).start()
        try:
            await _measure(single.url, cluster.url, events, rounds)
        finally:
            cluster.stop()
            single.stop()


async def _measure(single_url: str, cluster_url: str, events: int, rounds: int) -> None:
    config_1 = BusConfig(redis_url=single_url, producer="bench", marker_ttl_s=3600)
    config_c = BusConfig(redis_url=cluster_url, producer="bench", marker_ttl_s=3600)
    one, many = connect(single_url, config_1), connect(cluster_url, config_c)
    cases: list[tuple[str, Redis, BusConfig, type[CountedCross | CountedSame]]] = [
        ("single node", one, config_1, CountedCross),
        ("cluster same-slot", many, config_c, CountedSame),
        ("cluster cross-slot (outbox + relay)", many, config_c, CountedCross),
    ]
    times: dict[str, list[float]] = {name: [] for name, *_ in cases}
    usec: dict[str, list[float]] = {name: [] for name, *_ in cases}
    for _ in range(rounds):  # interleaved, so drift on a shared machine hits every case alike
        for name, client, config, output in cases:
            seconds, per_event = await consume_round(client, config, events, output)
            times[name].append(seconds)
            usec[name].append(per_event)
    print(f"{events} events x {rounds} rounds; redis-server with AOF everysec; medians (rounds in brackets)")
    print(
        f"source {keys.stream(SOURCE)} slot {slot(keys.stream(SOURCE))}; same-slot {keys.stream(SAME)}; "
        f"cross-slot {keys.stream(CROSS)} slot {slot(keys.stream(CROSS))}"
    )
    base = events / statistics.median(times["single node"])
    for name, rows in times.items():
        rate = events / statistics.median(rows)
        spread = ", ".join(f"{events / t:,.0f}" for t in rows)
        cpu = statistics.median(usec[name])
        print(f"  {name:38} {rate:10,.0f} events/s   ratio to single node {rate / base:5.2f}   [{spread}]")
        print(f"  {'':38} Redis command time {cpu:5.1f} µs/event (all masters; ~{1e6 / cpu:,.0f} events/s per core)")
    same = events / statistics.median(times["cluster same-slot"])
    cross = events / statistics.median(times["cluster cross-slot (outbox + relay)"])
    print(f"  outbox path cost: cross-slot / same-slot = {cross / same:.2f}")
    single_bytes = await bytes_per_entry(one, config_1, keys.stream(SOURCE))
    cluster_bytes = await bytes_per_entry(many, config_c, keys.stream(SOURCE))
    print(f"  bytes per stream entry: one node {single_bytes:,.0f}, cluster master {cluster_bytes:,.0f}")
    await one.aclose()
    await many.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(bench(args.events, args.rounds))


if __name__ == "__main__":
    main()
