"""Lockout policy over failure timestamps."""

from __future__ import annotations

import pytest

from aiwf.workers.auth.errors import AuthConfigError
from aiwf.workers.auth.lockout import LockoutPolicy

POLICY = LockoutPolicy(max_failures=5, window_s=900, cooldown_s=900)


def test_not_locked_below_threshold() -> None:
    """Four failures in the window do not lock."""
    assert POLICY.locked_until([0, 10, 20, 30], now=40) is None


def test_locked_after_max_failures_in_window() -> None:
    """The fifth failure inside the window locks until cooldown after it."""
    assert POLICY.locked_until([0, 10, 20, 30, 40], now=40) == 940


def test_failures_spread_beyond_window_do_not_lock() -> None:
    """Five failures spread wider than the window do not lock."""
    assert POLICY.locked_until([0, 300, 600, 900, 1200], now=1200) is None


def test_unlocks_after_cooldown() -> None:
    """The lock holds just before the cooldown ends and is gone at its end."""
    failures = [0, 10, 20, 30, 40]
    assert POLICY.locked_until(failures, now=939.9) == 940
    assert POLICY.locked_until(failures, now=940) is None


def test_lock_outlives_a_short_window() -> None:
    """With a window shorter than the cooldown the lock still lasts the whole cooldown."""
    policy = LockoutPolicy(max_failures=3, window_s=60, cooldown_s=900)
    assert policy.locked_until([0, 1, 2], now=500) == 902


def test_order_of_failures_does_not_matter() -> None:
    """Unsorted timestamps give the same answer as sorted ones."""
    assert POLICY.locked_until([40, 0, 30, 10, 20], now=41) == 940


def test_config_validated() -> None:
    """Zero failures or a non-positive window raises AuthConfigError."""
    with pytest.raises(AuthConfigError):
        LockoutPolicy(max_failures=0)
    with pytest.raises(AuthConfigError):
        LockoutPolicy(window_s=0)
