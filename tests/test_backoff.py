"""Backoff: the one exponential delay, its jitter bounds, its validation and its users."""

from __future__ import annotations

import math

import pytest
from tenacity import AsyncRetrying, stop_after_attempt

from aiwf.bus.backoff import Backoff
from aiwf.bus.errors import ConfigError
from aiwf.bus.retry import RetryPolicy

SAMPLES = 400


def test_ceiling_doubles_from_base_up_to_max() -> None:
    """Without jitter the delay is base_s * 2**(attempt-1), capped at max_s; attempts below 1 count as 1."""
    backoff = Backoff(0.5, 5.0, jitter="none")
    assert [backoff.delay(n) for n in range(7)] == [0.5, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    """A delivery count in the millions (a long outage) gives max_s, never an OverflowError."""
    for jitter in ("full", "equal", "none"):
        delay = Backoff(0.2, 30.0, jitter=jitter).delay(10_000_000)
        assert math.isfinite(delay)
        assert delay <= 30.0


def test_full_jitter_spans_zero_to_the_ceiling() -> None:
    """Full jitter draws from [0, ceiling]: some delays fall well under half the ceiling."""
    delays = [Backoff(1.0, 8.0, jitter="full").delay(3) for _ in range(SAMPLES)]
    assert all(0.0 <= d <= 4.0 for d in delays)
    assert min(delays) < 1.0
    assert max(delays) > 3.0


def test_equal_jitter_keeps_the_upper_half() -> None:
    """Equal jitter draws from [ceiling/2, ceiling]: never shorter than half the ceiling."""
    delays = [Backoff(1.0, 8.0, jitter="equal").delay(3) for _ in range(SAMPLES)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(
    ("base_s", "max_s", "jitter"),
    [(-0.1, 1.0, "full"), (2.0, 1.0, "full"), (0.1, math.inf, "full"), (math.nan, 1.0, "none"), (0.1, 1.0, "half")],
)
def test_invalid_settings_are_config_errors(base_s: float, max_s: float, jitter: str) -> None:
    """A negative, inverted, infinite or NaN delay, or an unknown jitter, is refused with ConfigError."""
    with pytest.raises(ConfigError, match="Backoff"):
        Backoff(base_s, max_s, jitter=jitter)  # type: ignore[arg-type]


def test_zero_backoff_is_allowed_for_tests() -> None:
    """Backoff(0, 0) is valid and never waits (tests use it to retry at once)."""
    assert Backoff(0.0, 0.0).delay(5) == 0.0


async def test_backoff_is_a_tenacity_wait_strategy() -> None:
    """Backoff.wait plugs into tenacity as `wait=`: the sleeps follow delay(attempt_number)."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts = 0

    async def always_down() -> None:
        nonlocal attempts
        retrying = AsyncRetrying(
            stop=stop_after_attempt(4),
            wait=Backoff(0.25, 0.75, jitter="none").wait,
            sleep=sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                attempts += 1
                raise OSError("down")

    with pytest.raises(OSError, match="down"):
        await always_down()
    assert attempts == 4
    assert slept == [0.25, 0.5, 0.75]


def test_retry_policy_backoff_is_equal_jitter_between_base_and_max() -> None:
    """RetryPolicy.backoff_s(deliveries) keeps its delays: equal jitter, base doubling per delivery, capped."""
    policy = RetryPolicy(backoff_base_s=0.2, backoff_max_s=1.0)
    assert policy.backoff == Backoff(0.2, 1.0, jitter="equal")
    for deliveries, ceiling in [(0, 0.2), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (50, 1.0)]:
        delays = [policy.backoff_s(deliveries) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)


def test_retry_policy_probe_backoff_doubles_to_probe_max() -> None:
    """Outage probes wait backoff_base_s, then double up to probe_max_s, without jitter."""
    policy = RetryPolicy(backoff_base_s=0.5, probe_max_s=3.0)
    assert [policy.probe_backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_retry_policy_refuses_probe_max_below_base() -> None:
    """A probe cap below the first delay is a configuration error, not a silent clamp."""
    with pytest.raises(ConfigError, match="probe_max_s"):
        RetryPolicy(backoff_base_s=1.0, probe_max_s=0.5)
