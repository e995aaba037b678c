"""The figures one consumer records: outcomes, handler and commit times, commit sizes.

They live in unregistered prometheus-client metrics owned by the consumer (as its Stats are);
the worker's registry (bus/metrics/registry.py) collects every consumer's figures at scrape time.
Labels are bounded: a service, a subscription (`stream/group`), an event type the subscription
handles (any other type is `other`, so a producer cannot grow the series), and an outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.metrics_core import Metric

#: The type label of events the subscription has no handler for, or whose type is unreadable.
OTHER = "other"
#: Where a handler's p95 is held against the alert thresholds (2 s, 5 s), a bucket edge sits.
HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10_000)
OUTCOMES = ("committed", "duplicate", "dead_lettered", "skipped", "retried", "conflict")
"""The `outcome` label of aiwf_events_handled_total."""


class ConsumerMetrics:
    """What one consumer of one subscription did, as Prometheus metrics (children cached per label set)."""

    def __init__(self, service: str, stream: str, group: str, handled_types: Iterable[str]) -> None:
        self.service, self.subscription = service, f"{stream}/{group}"
        self._types = {t: t for t in handled_types} | {t.encode(): t for t in handled_types}
        sub = ("service", "subscription")
        self.handled = Counter(
            "aiwf_events_handled", "Events done with, by outcome", [*sub, "type", "outcome"], registry=None
        )
        self.handler_seconds = Histogram(
            "aiwf_handler_duration_seconds",
            "Time one handler call took (middleware included from the metrics middleware inwards)",
            [*sub, "type"],
            buckets=HANDLER_BUCKETS,
            registry=None,
        )
        self.handler_failures = Counter(
            "aiwf_handler_failures", "Handler calls that raised (timeouts included)", [*sub, "type"], registry=None
        )
        self.commit_seconds = Histogram(
            "aiwf_commit_duration_seconds",
            "One micro-batch commit's round trip",
            sub,
            buckets=COMMIT_BUCKETS,
            registry=None,
        )
        self.commit_size = Histogram(
            "aiwf_commit_batch_size", "Entries per micro-batch commit", sub, buckets=BATCH_BUCKETS, registry=None
        )
        self._children: dict[tuple[str, str, str], Any] = {}
        self._commit_seconds = self.commit_seconds.labels(service, self.subscription)
        self._commit_size = self.commit_size.labels(service, self.subscription)

    def type_label(self, event_type: str | bytes | None) -> str:
        """The event type if this subscription handles it, else OTHER."""
        return self._types.get(event_type, OTHER) if event_type is not None else OTHER

    def count(self, event_type: str | bytes | None, outcome: str, n: int = 1) -> None:
        """`n` events reached `outcome`."""
        self._child("handled", self.type_label(event_type), outcome).inc(n)

    def handler_took(self, event_type: str, seconds: float, *, failed: bool) -> None:
        """One handler call's duration; `failed` when it raised."""
        label = self.type_label(event_type)
        self._child("seconds", label, "").observe(seconds)
        if failed:
            self._child("failures", label, "").inc()

    def committed(self, seconds: float, entries: int) -> None:
        """One micro-batch commit's round trip and size."""
        self._commit_seconds.observe(seconds)
        self._commit_size.observe(entries)

    def collect(self) -> list[Metric]:
        """Every family of this consumer (the worker's collector merges them across consumers)."""
        metrics = (self.handled, self.handler_seconds, self.handler_failures, self.commit_seconds, self.commit_size)
        return [family for metric in metrics for family in metric.collect()]

    def _child(self, kind: str, event_type: str, outcome: str) -> Any:
        key = (kind, event_type, outcome)
        child = self._children.get(key)
        if child is None:
            base = (self.service, self.subscription, event_type)
            if kind == "handled":
                child = self.handled.labels(*base, outcome)
            else:
                child = (self.handler_seconds if kind == "seconds" else self.handler_failures).labels(*base)
            self._children[key] = child
        return child


#: The figures of the consumer whose task tree is running (set by Consumer.run(), inherited by its
#: slot and commit tasks); None outside a consumer, or for a consumer without the metrics middleware.
CURRENT: ContextVar[ConsumerMetrics | None] = ContextVar("aiwf_consumer_metrics", default=None)
