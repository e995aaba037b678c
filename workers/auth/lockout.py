"""Account lockout: a pure policy over failure timestamps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from aiwf.workers.auth.errors import AuthConfigError

__all__ = ["MAX_TRACKED_FAILURES", "LockoutPolicy"]

#: The User aggregate keeps at most this many recent failures; max_failures may not exceed it.
MAX_TRACKED_FAILURES: Final = 100


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Lock after ``max_failures`` failed logins within ``window_s``, for ``cooldown_s`` after the last one."""

    #: Failures inside the window that trigger a lock.
    max_failures: int = 5
    #: Seconds a failure counts for.
    window_s: float = 900.0
    #: Seconds the account stays locked after the failure that tripped the lock.
    cooldown_s: float = 900.0

    def __post_init__(self) -> None:
        """Refuse impossible settings."""
        if not 1 <= self.max_failures <= MAX_TRACKED_FAILURES:
            msg = f"max_failures must be 1..{MAX_TRACKED_FAILURES}, got {self.max_failures}"
            raise AuthConfigError(msg)
        if self.window_s <= 0 or self.cooldown_s <= 0:
            msg = f"window_s and cooldown_s must be > 0, got {self.window_s}, {self.cooldown_s}"
            raise AuthConfigError(msg)

    def locked_until(self, failures: Sequence[float], now: float) -> float | None:
        """When the account unlocks given these failure times, or None if it is not locked at ``now``."""
        # Only failures after now - cooldown - window can belong to a lock still running at ``now``.
        horizon = now - self.cooldown_s - self.window_s
        recent = sorted(t for t in failures[-MAX_TRACKED_FAILURES:] if horizon < t <= now)
        k = self.max_failures
        until: float | None = None
        for i in range(len(recent) - k + 1):
            first, last = recent[i], recent[i + k - 1]
            if last - first < self.window_s:
                until = last + self.cooldown_s  # later runs end later: keep the last one
        return until if until is not None and until > now else None
