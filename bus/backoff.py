"""Backoff: the one exponential delay of aiwf, with full, equal or no jitter.

    Backoff(base_s=0.2, max_s=30.0, jitter="equal").delay(attempt)

The ceiling for attempt n (1 = the first failure) is min(max_s, base_s * 2**(n-1)); the delay
is uniform in [0, ceiling] ("full"), in [ceiling/2, ceiling] ("equal") or the ceiling itself
("none"). Retried deliveries, restarts, outage probes, Redis reconnects, HTTP retries and
the circuit breaker's cool-down all take their delay from here.

Why not tenacity's wait strategies alone: they take a RetryCallState, so a delivery count,
a restart or a breaker (none of them a tenacity loop) would have to fake one, and tenacity
has no equal jitter. Where a tenacity loop exists, `Backoff.wait` is its `wait=`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal, TypeAlias

from tenacity import RetryCallState

from aiwf.bus.errors import ConfigError

__all__ = ["Backoff", "Jitter"]

Jitter: TypeAlias = Literal["full", "equal", "none"]
"""How much of the ceiling is randomised: all of it, the upper half, or none."""

_JITTERS: tuple[Jitter, ...] = ("full", "equal", "none")
#: 2**62 times any positive base passes every max_s; a larger exponent would overflow a float.
_MAX_EXPONENT = 62


@dataclass(frozen=True)
class Backoff:
    """Exponential delay in the attempt number, capped at max_s, jittered; validated on construction."""

    base_s: float
    max_s: float
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base_s) and math.isfinite(self.max_s)) or not 0 <= self.base_s <= self.max_s:
            msg = f"Backoff needs finite 0 <= base_s <= max_s; got base_s={self.base_s}, max_s={self.max_s}"
            raise ConfigError(msg)
        if self.jitter not in _JITTERS:
            raise ConfigError(f"Backoff.jitter must be one of {', '.join(_JITTERS)}; got {self.jitter!r}")

    def ceiling(self, attempt: int) -> float:
        """The un-jittered delay after `attempt` failures (attempts below 1 count as 1)."""
        exponent = min(max(0, attempt - 1), _MAX_EXPONENT)
        return min(self.max_s, self.base_s * 2.0**exponent)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after `attempt` failures, jittered as configured."""
        ceiling = self.ceiling(attempt)
        if self.jitter == "full":
            return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography
        if self.jitter == "equal":
            return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography
        return ceiling

    def wait(self, state: RetryCallState) -> float:
        """A tenacity `wait=` strategy: the delay after `state.attempt_number` attempts."""
        return self.delay(state.attempt_number)
