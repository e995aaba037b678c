"""A worker's registry: what GET /metrics serves.

One CollectorRegistry per Worker (never the library's global one, so two workers in one
process, or two tests, never see each other's figures):

    consumers   every consumer's figures, merged into one family per metric at scrape time
    paused      aiwf_subscription_paused: 1 while a subscription is paused for a backend outage
    groups      aiwf_consumer_group_lag / _pending per stream and group, from XINFO GROUPS,
                sampled on the heartbeat's timer (never per event)
    process     prometheus-client's process and platform collectors (memory, CPU, start time),
                aiwf_uptime_seconds and aiwf_memory_limit_bytes (what memory alerts divide by)
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge, PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from aiwf.bus import keys
from aiwf.bus.codec import text

if TYPE_CHECKING:
    from aiwf.bus.worker import Worker

log = logging.getLogger("aiwf.metrics")
#: The text format every Prometheus version reads (what generate_latest writes for our plain names).
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"
#: cgroup v2, then v1: the container's memory bound, when it has one.
CGROUP_MEMORY_FILES = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


class WorkerMetrics:
    """The registry of one Worker, and the sampling of its consumer groups."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.registry.register(_Consumers(worker))
        self.registry.register(_Backlogs(worker))
        started = time.time()
        uptime = Gauge("aiwf_uptime_seconds", "Seconds since the worker started", registry=self.registry)
        uptime.set_function(lambda: time.time() - started)
        limit = Gauge(
            "aiwf_memory_limit_bytes", "The process's memory bound: cgroup limit, else RAM", registry=self.registry
        )
        limit.set(memory_limit_bytes())
        labels = ("service", "stream", "group")
        self.lag = Gauge(
            "aiwf_consumer_group_lag",
            "Entries not yet delivered to the group (Redis >= 7)",
            labels,
            registry=self.registry,
        )
        self.pending = Gauge(
            "aiwf_consumer_group_pending", "Entries delivered and not yet acknowledged", labels, registry=self.registry
        )

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    async def sample_groups(self) -> None:
        """Lag and pending of this worker's groups, one XINFO GROUPS per stream; errors are logged."""
        wanted: dict[str, set[str]] = {}
        for sub in self.worker.service.subscriptions:
            wanted.setdefault(sub.stream, set()).add(sub.group)
        for domain, groups in wanted.items():
            try:
                rows: list[dict[str, Any]] = await self.worker.client.xinfo_groups(keys.stream(domain))
            except Exception as exc:  # noqa: BLE001 - a missing stream or Redis away: sample again next beat
                log.debug("sampling groups of %s failed: %s", domain, exc)
                continue
            for row in rows:
                group = text(row["name"])
                if group not in groups:
                    continue
                labels = (self.worker.service.name, domain, group)
                self.pending.labels(*labels).set(int(row["pending"]))
                if row.get("lag") is not None:  # absent before Redis 7, None when Redis cannot tell
                    self.lag.labels(*labels).set(int(row["lag"]))


class _Consumers(Collector):
    """Every consumer's figures of one worker, read when scraped."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        paused = GaugeMetricFamily(
            "aiwf_subscription_paused",
            "1 while the subscription is paused for a backend outage",
            labels=["service", "subscription"],
        )
        for consumer in self.worker.consumers:
            subscription = f"{consumer.sub.stream}/{consumer.sub.group}"
            paused.add_metric([self.worker.service.name, subscription], float(consumer.outage.paused))
            figures = consumer.metrics
            for family in figures.collect() if figures is not None else ():
                into = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type, family.unit)
                )
                into.samples.extend(family.samples)
        yield from merged.values()
        yield paused


class _Backlogs(Collector):
    """aiwf_retention_backlog{,_bound,_alarm}: what the worker's last retention pass found on each stream."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        labels = ["service", "stream"]
        backlog = GaugeMetricFamily(
            "aiwf_retention_backlog", "Unacknowledged entries retention found (a lower bound)", labels=labels
        )
        bound = GaugeMetricFamily("aiwf_retention_backlog_bound", "The backlog retention alarms past", labels=labels)
        alarm = GaugeMetricFamily(
            "aiwf_retention_backlog_alarm", "1 while the backlog is past its bound (nothing trimmed)", labels=labels
        )
        for stream, report in getattr(self.worker.heartbeat, "trims", {}).items():
            key = [self.worker.service.name, keys.stream_domain(stream) or stream]
            backlog.add_metric(key, report.backlog)
            bound.add_metric(key, report.alarm_at)
            alarm.add_metric(key, float(report.alarm))
        yield from (backlog, bound, alarm)


def memory_limit_bytes() -> float:
    """The cgroup memory limit when there is one below the machine's RAM, else the RAM."""
    ram = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    for path in CGROUP_MEMORY_FILES:
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value.isdigit():
            return min(ram, float(value))
    return ram
