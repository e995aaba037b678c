"""The alert figures of one worker over a sliding window, for alerts without Prometheus.

Every heartbeat reads the worker's own registry (the figures GET /metrics serves) and keeps
the cumulative totals; the heartbeat then carries the change over the last `window_s`
seconds: handler calls, failed calls, calls slower than 2 s and 5 s (the histogram's bucket
edges), and resident memory against its bound. `aiwf alerts` sums those over a service's
live instances: the same ratios deploy/prometheus/alerts.yml computes with rate(...[5m]).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, fields

from prometheus_client import CollectorRegistry

#: The bucket edges the latency alerts hold the p95 against (bus/metrics/figures.HANDLER_BUCKETS has both).
SLOW_S, VERY_SLOW_S = 2.0, 5.0


@dataclass(frozen=True)
class Totals:
    """Cumulative handler figures of one worker at one moment."""

    calls: float = 0.0
    failures: float = 0.0
    slow: float = 0.0  # calls that took more than SLOW_S
    very_slow: float = 0.0  # calls that took more than VERY_SLOW_S

    def minus(self, older: Totals) -> Totals:
        """What happened between `older` and this (never negative: a reset counter counts from zero)."""
        return Totals(*(max(0.0, getattr(self, f.name) - getattr(older, f.name)) for f in fields(self)))


def read_totals(registry: CollectorRegistry) -> tuple[Totals, float, float]:
    """Handler totals, resident memory and memory bound, from a worker's registry."""
    calls = failures = within_slow = within_very_slow = rss = limit = 0.0
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "aiwf_handler_duration_seconds_count":
                calls += sample.value
            elif sample.name == "aiwf_handler_duration_seconds_bucket":
                edge = float(sample.labels["le"])
                within_slow += sample.value if edge == SLOW_S else 0.0
                within_very_slow += sample.value if edge == VERY_SLOW_S else 0.0
            elif sample.name == "aiwf_handler_failures_total":
                failures += sample.value
            elif sample.name == "process_resident_memory_bytes":
                rss = sample.value
            elif sample.name == "aiwf_memory_limit_bytes":
                limit = sample.value
    return Totals(calls, failures, calls - within_slow, calls - within_very_slow), rss, limit


class Window:
    """Totals sampled on every heartbeat, kept for `window_s`; `fields()` is what the heartbeat carries."""

    def __init__(self, registry: CollectorRegistry, window_s: float) -> None:
        self.registry, self.window_s = registry, window_s
        self._samples: deque[tuple[float, Totals]] = deque()
        self._memory = (0.0, 0.0)

    def sample(self, now: float | None = None) -> None:
        """Read the registry once and drop samples older than the window (the newest one older is kept)."""
        now = time.time() if now is None else now
        totals, rss, limit = read_totals(self.registry)
        self._samples.append((now, totals))
        self._memory = (rss, limit)
        while len(self._samples) > 1 and self._samples[1][0] <= now - self.window_s:
            self._samples.popleft()

    def change(self) -> Totals:
        """Totals over the window: newest sample minus the one at (or just before) its start."""
        if not self._samples:
            return Totals()
        base = Totals() if self._samples[0][0] > self._samples[-1][0] - self.window_s else self._samples[0][1]
        return self._samples[-1][1].minus(base)

    def fields(self) -> dict[str, str]:
        """Heartbeat fields: `window_s`, `window_calls`, `window_failures`, `window_slow`, `window_very_slow`,
        `memory_bytes`, `memory_limit_bytes`."""
        change = self.change()
        out = {f"window_{f.name}": f"{getattr(change, f.name):.0f}" for f in fields(change)}
        return {
            "window_s": f"{self.window_s:g}",
            **out,
            "memory_bytes": f"{self._memory[0]:.0f}",
            "memory_limit_bytes": f"{self._memory[1]:.0f}",
        }
