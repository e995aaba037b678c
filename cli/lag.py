"""`aiwf metrics [--serve PORT]`: every stream and consumer group's lag and pending, in Prometheus' text format.

One view of the whole bus for an autoscaler (KEDA's prometheus scaler, or an HPA through a
Prometheus adapter), read from `XINFO GROUPS` (dlq/inspect.py: Redis 7's `lag`, else entries
after the group's last-delivered id counted up to 10,000). Workers serve their own groups'
figures on /metrics; this view needs no worker running, and `--serve` makes it a scrape target.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Annotated

import typer
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.support import console, run
from aiwf.dlq import inspect as inspect_
from aiwf.dlq.inspect import StreamInfo

SERVE_EVERY_S = 5.0


def register(app: typer.Typer) -> None:
    """Add `metrics` to `app`."""
    app.command()(metrics)


def families(found: list[StreamInfo]) -> list[Metric]:
    """The exporter's gauges: per stream its length and dead letters; per group its lag, pending and consumers."""
    length = GaugeMetricFamily("aiwf_stream_length", "Entries in the stream (XLEN)", labels=["stream"])
    dead = GaugeMetricFamily("aiwf_stream_dead_letters", "Entries in the stream's dead letters", labels=["stream"])
    labels = ["stream", "group"]
    lag = GaugeMetricFamily(
        "aiwf_stream_group_lag", "Entries not yet delivered to the group (a lower bound when capped)", labels=labels
    )
    capped = GaugeMetricFamily(
        "aiwf_stream_group_lag_capped", "1 when the lag was counted by hand and stopped at its cap", labels=labels
    )
    pending = GaugeMetricFamily("aiwf_stream_group_pending", "Entries delivered and not yet acked", labels=labels)
    consumers = GaugeMetricFamily("aiwf_stream_group_consumers", "Consumers in the group", labels=labels)
    for info in found:
        length.add_metric([info.domain], info.length)
        dead.add_metric([info.domain], info.dead_letters)
        for group in info.groups:
            key = [info.domain, group.name]
            if group.lag.value is not None:
                lag.add_metric(key, group.lag.value)
                capped.add_metric(key, float(group.lag.capped))
            pending.add_metric(key, group.pending)
            consumers.add_metric(key, group.consumer_count)
    return [length, dead, lag, capped, pending, consumers]


def exposition(found: list[StreamInfo]) -> bytes:
    """The gauges in Prometheus' text format."""
    registry = CollectorRegistry()
    registry.register(_Snapshot(lambda: found))
    return generate_latest(registry)


class _Snapshot(Collector):
    """The gauges of whatever `latest` returns, built at each collection (each scrape)."""

    def __init__(self, latest: Callable[[], list[StreamInfo]]) -> None:
        self.latest = latest

    def collect(self) -> Iterator[Metric]:
        yield from families(self.latest())


def metrics(
    serve: Annotated[
        int | None, typer.Option("--serve", min=1, max=65535, help="Serve GET /metrics on this port until Ctrl-C.")
    ] = None,
    every: Annotated[float, typer.Option("--every", min=0.5, help="Seconds between reads of Redis with --serve.")] = (
        SERVE_EVERY_S
    ),
) -> None:
    """Print (or serve) the lag, pending and consumers of every stream's consumer groups, for Prometheus or KEDA."""
    if serve is None:
        found = run(lambda client, _: inspect_.streams(client))
        sys.stdout.buffer.write(exposition(found))
        sys.stdout.flush()
        return
    try:
        run(lambda client, config: _serve(client, config, serve, every))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


async def _serve(client: Redis, _config: BusConfig, port: int, every: float) -> None:
    latest: list[StreamInfo] = await inspect_.streams(client)
    lock = threading.Lock()

    def current() -> list[StreamInfo]:
        with lock:
            return latest

    registry = CollectorRegistry()
    registry.register(_Snapshot(current))
    start_http_server(port, registry=registry)
    console.print(f"serving GET /metrics on :{port}, refreshed every {every:g}s", style="dim")
    while True:
        await asyncio.sleep(every)
        fresh = await inspect_.streams(client)
        with lock:
            latest = fresh
