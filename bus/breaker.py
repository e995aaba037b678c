"""CircuitBreaker: stop calling a failing dependency, probe it again after a cool-down.

A pure state machine over an injected clock, so tests drive time by hand; no I/O, no locks
(one event loop calls it). The cool-down comes from the one Backoff: the n-th opening in a
row waits `cool_down.delay(n)`, so a dependency that keeps failing its probes is probed
less and less often, and one success starts again from the first cool-down.

    closed --(failure_threshold consecutive failures)--> open
    open --(cool-down elapsed; next allow())--> half_open (one probe admitted)
    half_open --probe succeeds--> closed      half_open --probe fails--> open (longer cool-down)

`state`, `failures` and `status()` are what health checks and metrics read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import TypedDict

from aiwf.bus.backoff import Backoff
from aiwf.bus.errors import ConfigError

__all__ = ["DEFAULT_COOL_DOWN", "DEFAULT_FAILURE_THRESHOLD", "BreakerState", "BreakerStatus", "CircuitBreaker"]

#: Consecutive failures that open a closed breaker.
DEFAULT_FAILURE_THRESHOLD = 3
#: First cool-down 30 s, doubling per failed probe up to 5 min; no jitter, so logs read plainly.
DEFAULT_COOL_DOWN = Backoff(base_s=30.0, max_s=300.0, jitter="none")


class BreakerState(StrEnum):
    """Where a breaker stands."""

    CLOSED = "closed"
    """Calls flow; consecutive failures are counted."""
    OPEN = "open"
    """Calls are refused until the cool-down has passed."""
    HALF_OPEN = "half_open"
    """One probe call is admitted; its outcome closes or reopens the breaker."""


class BreakerStatus(TypedDict):
    """A breaker's state for health and metrics (JSON-ready)."""

    state: str
    failures: int
    openings: int
    retry_in_s: float


class CircuitBreaker:
    """Counts consecutive failures of one dependency and decides whether to call it."""

    def __init__(
        self,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        cool_down: Backoff = DEFAULT_COOL_DOWN,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ConfigError(f"CircuitBreaker.failure_threshold must be >= 1, got {failure_threshold}")
        if cool_down.base_s <= 0:
            raise ConfigError(f"CircuitBreaker.cool_down.base_s must be > 0, got {cool_down.base_s}")
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._openings = 0
        self._pause_s = 0.0
        self._opened_at = 0.0
        self._probe_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """Current state; an open breaker whose cool-down has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._pause_s:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures recorded since the last success."""
        return self._failures

    @property
    def openings(self) -> int:
        """Times the breaker opened since the last success (the cool-down's attempt number)."""
        return self._openings

    def status(self) -> BreakerStatus:
        """State, counters and seconds until the next probe may go (0 unless open)."""
        left = self._opened_at + self._pause_s - self._clock() if self._state is BreakerState.OPEN else 0.0
        return BreakerStatus(
            state=self.state.value,
            failures=self._failures,
            openings=self._openings,
            retry_in_s=max(0.0, left),
        )

    def allow(self) -> bool:
        """Whether to call the dependency now; in half-open, True for one probe at a time.

        A probe that never reports back (its caller was cancelled) stops holding the slot
        after the current cool-down, so the breaker cannot wedge half-open.
        """
        now = self._clock()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if now - self._opened_at < self._pause_s:
                return False
            self._state = BreakerState.HALF_OPEN
            self._probe_started_at = None
        if self._probe_started_at is not None and now - self._probe_started_at < self._pause_s:
            return False
        self._probe_started_at = now
        return True

    def record_success(self) -> None:
        """The call succeeded: close the breaker and forget past failures and openings."""
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._openings = 0
        self._probe_started_at = None

    def record_failure(self) -> None:
        """The call failed: open after `failure_threshold` in a row, or at once when probing."""
        self._failures += 1
        if self._state is BreakerState.OPEN:  # a call admitted before the opening: same pause, from now
            self._opened_at = self._clock()
            return
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._openings += 1
            self._pause_s = self.cool_down.delay(self._openings)
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._probe_started_at = None
