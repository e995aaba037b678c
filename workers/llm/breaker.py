"""A circuit breaker: stop calling a failing backend, probe it again after a pause.

Pure state machine over an injected clock, so tests drive time by hand.

    closed --(failure_threshold consecutive failures)--> open
    open --(reset_after_s elapsed; next allow())--> half_open (one probe admitted)
    half_open --probe succeeds--> closed      half_open --probe fails--> open
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from aiwf.workers.llm.errors import LLMConfigError

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    """Where a breaker stands."""

    CLOSED = "closed"
    """Calls flow; consecutive failures are counted."""
    OPEN = "open"
    """Calls are refused until `reset_after_s` has passed."""
    HALF_OPEN = "half_open"
    """One probe call is admitted; its outcome closes or reopens the breaker."""


class CircuitBreaker:
    """Counts consecutive failures of one backend and decides whether to call it."""

    def __init__(
        self,
        failure_threshold: int = 3,
        reset_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            msg = f"failure_threshold must be >= 1, got {failure_threshold}"
            raise LLMConfigError(msg)
        if reset_after_s <= 0:
            msg = f"reset_after_s must be > 0, got {reset_after_s}"
            raise LLMConfigError(msg)
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_started_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """Current state; an open breaker whose pause has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_after_s:
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures recorded since the last success."""
        return self._failures

    def allow(self) -> bool:
        """Whether to call the backend now; in half-open, True for one probe at a time.

        A probe that never reports back (its caller was cancelled) stops holding
        the slot after `reset_after_s`, so the breaker cannot wedge half-open.
        """
        now = self._clock()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if now - self._opened_at < self.reset_after_s:
                return False
            self._state = BreakerState.HALF_OPEN
            self._probe_started_at = None
        if self._probe_started_at is not None and now - self._probe_started_at < self.reset_after_s:
            return False
        self._probe_started_at = now
        return True

    def record_success(self) -> None:
        """The call succeeded: close the breaker and forget past failures."""
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_started_at = None

    def record_failure(self) -> None:
        """The call failed: open after `failure_threshold` in a row, or at once when probing."""
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._state = BreakerState.OPEN
            self._opened_at = self._clock()
            self._probe_started_at = None
