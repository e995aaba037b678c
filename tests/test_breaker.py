"""CircuitBreaker transitions, driven by a hand-moved clock."""

from __future__ import annotations

import pytest

from aiwf.bus.backoff import Backoff
from aiwf.bus.breaker import DEFAULT_COOL_DOWN, BreakerState, CircuitBreaker
from aiwf.bus.errors import ConfigError
from tests.clock import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


def fixed(seconds: float) -> Backoff:
    """A cool-down that stays `seconds` however often the breaker reopens."""
    return Backoff(seconds, seconds, jitter="none")


def _open(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.failure_threshold):
        assert breaker.allow()
        breaker.record_failure()


def test_opens_after_threshold_consecutive_failures(clock: Clock) -> None:
    """The breaker stays closed below the threshold and opens on the threshold-th failure."""
    breaker = CircuitBreaker(failure_threshold=3, cool_down=fixed(10), clock=clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN  # type: ignore[comparison-overlap]  # mypy keeps the narrowing above
    assert not breaker.allow()


def test_success_resets_the_failure_count(clock: Clock) -> None:
    """A success in between failures means they are no longer consecutive."""
    breaker = CircuitBreaker(failure_threshold=2, cool_down=fixed(10), clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failures == 1


def test_open_refuses_until_cool_down_then_admits_one_probe(clock: Clock) -> None:
    """An open breaker refuses calls for the cool-down, then admits exactly one probe."""
    breaker = CircuitBreaker(failure_threshold=1, cool_down=fixed(10), clock=clock)
    _open(breaker)
    clock.advance(9.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # a second caller does not get to probe concurrently


def test_probe_success_closes(clock: Clock) -> None:
    """A successful half-open probe closes the breaker and calls flow again."""
    breaker = CircuitBreaker(failure_threshold=1, cool_down=fixed(5), clock=clock)
    _open(breaker)
    clock.advance(5)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_probe_failure_reopens_for_a_full_pause(clock: Clock) -> None:
    """A failed probe reopens the breaker and restarts the pause from the failure time."""
    breaker = CircuitBreaker(failure_threshold=3, cool_down=fixed(5), clock=clock)
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
    """A probe that never reports back frees its slot after the cool-down, so the breaker cannot wedge."""
    breaker = CircuitBreaker(failure_threshold=1, cool_down=fixed(5), clock=clock)
    _open(breaker)
    clock.advance(5)
    assert breaker.allow()
    clock.advance(4)
    assert not breaker.allow()
    clock.advance(1)
    assert breaker.allow()


def test_cool_down_grows_while_probes_fail_and_resets_on_success(clock: Clock) -> None:
    """Each failed probe doubles the next cool-down up to its cap; a success starts again from the first."""
    breaker = CircuitBreaker(failure_threshold=1, cool_down=Backoff(2.0, 5.0, jitter="none"), clock=clock)
    _open(breaker)
    waits = []
    for _ in range(3):
        waited = 0.0
        while not breaker.allow():
            clock.advance(0.5)
            waited += 0.5
        waits.append(waited)
        breaker.record_failure()
    assert waits == [2.0, 4.0, 5.0]
    assert breaker.openings == 4
    clock.advance(5)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.openings == 0
    _open(breaker)
    clock.advance(1.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_straggler_failure_restarts_the_pause_without_growing_it(clock: Clock) -> None:
    """A call admitted before the opening that fails later restarts the same cool-down, not a longer one."""
    breaker = CircuitBreaker(failure_threshold=1, cool_down=Backoff(2.0, 60.0, jitter="none"), clock=clock)
    assert breaker.allow()  # a second call in flight
    _open(breaker)
    clock.advance(1)
    breaker.record_failure()  # the straggler
    assert breaker.openings == 1
    clock.advance(1.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


def test_status_reports_state_counters_and_time_to_probe(clock: Clock) -> None:
    """status() is JSON-ready: the state, the failure and opening counts, and seconds until a probe may go."""
    breaker = CircuitBreaker(failure_threshold=2, cool_down=fixed(10), clock=clock)
    assert breaker.status() == {"state": "closed", "failures": 0, "openings": 0, "retry_in_s": 0.0}
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(4)
    assert breaker.status() == {"state": "open", "failures": 2, "openings": 1, "retry_in_s": 6.0}
    clock.advance(6)
    assert breaker.status() == {"state": "half_open", "failures": 2, "openings": 1, "retry_in_s": 0.0}


def test_default_cool_down_starts_at_thirty_seconds(clock: Clock) -> None:
    """Without a cool-down given, an open breaker probes after 30 s, as the llm router always did."""
    breaker = CircuitBreaker(clock=clock)
    assert breaker.cool_down == DEFAULT_COOL_DOWN
    _open(breaker)
    clock.advance(29.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.allow()


@pytest.mark.parametrize(("threshold", "base_s"), [(0, 1.0), (1, 0.0)])
def test_invalid_settings(threshold: int, base_s: float) -> None:
    """A threshold below 1 or a zero cool-down is a configuration error."""
    with pytest.raises(ConfigError):
        CircuitBreaker(failure_threshold=threshold, cool_down=Backoff(base_s, 1.0))


def test_negative_cool_down_is_refused_by_backoff() -> None:
    """A negative pause cannot even be expressed: Backoff refuses it with ConfigError."""
    with pytest.raises(ConfigError, match="base_s"):
        CircuitBreaker(cool_down=Backoff(-1.0, 1.0))
