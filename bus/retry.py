"""RetryPolicy: how many deliveries, how long between them, and when a failure is an outage."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from aiwf.bus.backoff import Backoff
from aiwf.bus.errors import ConfigError

if TYPE_CHECKING:
    from aiwf.bus.config import BusConfig

#: Deliveries before a failing event is dead-lettered.
DEFAULT_MAX_DELIVERIES = 5
DEFAULT_BACKOFF_BASE_S = 0.2
DEFAULT_BACKOFF_MAX_S = 30.0
#: Consecutive failures of distinct events with one error that mean "backend down", not poison.
DEFAULT_OUTAGE_AFTER = 5
DEFAULT_PROBE_MAX_S = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    """Per-subscription retry settings, validated on construction."""

    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    #: Seconds idle before an entry is presumed orphaned and reclaimed; None: the bus setting
    #: (BusConfig.worker.reclaim_idle_s, AIWF_RECLAIM_IDLE), filled in by `resolved(config)`.
    reclaim_idle_s: float | None = None
    outage_after: int = DEFAULT_OUTAGE_AFTER
    probe_max_s: float = DEFAULT_PROBE_MAX_S

    def __post_init__(self) -> None:
        if self.max_deliveries < 1:
            raise ConfigError(f"RetryPolicy.max_deliveries must be >= 1, got {self.max_deliveries}")
        if not 0 < self.backoff_base_s <= min(self.backoff_max_s, self.probe_max_s):
            raise ConfigError("RetryPolicy needs 0 < backoff_base_s <= backoff_max_s and probe_max_s")
        if self.reclaim_idle_s is not None and self.reclaim_idle_s < 0.05:
            raise ConfigError(f"RetryPolicy.reclaim_idle_s must be >= 0.05, got {self.reclaim_idle_s}")
        if self.outage_after < 2:
            raise ConfigError(f"RetryPolicy.outage_after must be >= 2, got {self.outage_after}")

    @property
    def backoff(self) -> Backoff:
        """Between deliveries: exponential from backoff_base_s to backoff_max_s, equal jitter."""
        return Backoff(self.backoff_base_s, self.backoff_max_s, jitter="equal")

    @property
    def probe_backoff(self) -> Backoff:
        """Between outage probes: doubling from backoff_base_s up to probe_max_s, no jitter."""
        return Backoff(self.backoff_base_s, self.probe_max_s, jitter="none")

    def backoff_s(self, deliveries: int) -> float:
        """Delay before the next delivery, from the deliveries so far."""
        return self.backoff.delay(deliveries)

    def resolved(self, config: BusConfig) -> RetryPolicy:
        """A copy with the bus-level defaults filled in (reclaim_idle_s from `config.worker`)."""
        if self.reclaim_idle_s is not None:
            return self
        return replace(self, reclaim_idle_s=config.worker.reclaim_idle_s)

    @property
    def reclaim_idle(self) -> float:
        """reclaim_idle_s of a resolved policy; ConfigError on one that was never resolved."""
        if self.reclaim_idle_s is None:
            raise ConfigError("RetryPolicy.reclaim_idle_s is unset: use policy.resolved(config) first")
        return self.reclaim_idle_s

    @property
    def lease_renew_s(self) -> float:
        """How often in-flight entries are re-claimed to ourselves, well inside the reclaim idle time."""
        return self.reclaim_idle / 3
