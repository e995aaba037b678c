"""CircuitBreaker transitions, driven by a hand-moved clock."""

from __future__ import annotations

from typing import Protocol

import pytest

from aiwf.workers.llm import BreakerState, CircuitBreaker, LLMConfigError


class Clock(Protocol):
    now: float

    def __call__(self) -> float: ...
    def advance(self, seconds: float) -> None: ...


def _open(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.failure_threshold):
        assert breaker.allow()
        breaker.record_failure()


def test_opens_after_threshold_consecutive_failures(clock: Clock) -> None:
    """The breaker stays closed below the threshold and opens on the threshold-th failure."""
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=10, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_success_resets_the_failure_count(clock: Clock) -> None:
    """A success in between failures means they are no longer consecutive."""
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=10, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failures == 1


def test_open_refuses_until_reset_then_admits_one_probe(clock: Clock) -> None:
    """An open breaker refuses calls for reset_after_s, then admits exactly one probe."""
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    _open(breaker)
    clock.advance(9.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # a second caller does not get to probe concurrently


def test_probe_success_closes(clock: Clock) -> None:
    """A successful half-open probe closes the breaker and calls flow again."""
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=5, clock=clock)
    _open(breaker)
    clock.advance(5)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_probe_failure_reopens_for_a_full_pause(clock: Clock) -> None:
    """A failed probe reopens the breaker and restarts the pause from the failure time."""
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=5, clock=clock)
    _open(breaker)
    clock.advance(5)
    assert breaker.allow()
    breaker.record_failure()  # one failure is enough while probing
    assert breaker.state is BreakerState.OPEN
    clock.advance(4.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_lost_probe_slot_expires(clock: Clock) -> None:
    """A probe that never reports back frees its slot after reset_after_s, so the breaker cannot wedge."""
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=5, clock=clock)
    _open(breaker)
    clock.advance(5)
    assert breaker.allow()
    clock.advance(4)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


@pytest.mark.parametrize(("threshold", "reset"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_invalid_settings(threshold: int, reset: float) -> None:
    """A threshold below 1 or a non-positive pause is a configuration error."""
    with pytest.raises(LLMConfigError):
        CircuitBreaker(failure_threshold=threshold, reset_after_s=reset)
