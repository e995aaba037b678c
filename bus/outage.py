"""Outage detection: when distinct events keep failing the same way, the backend is down.

Dead-lettering a whole backlog because a dependency is offline would turn one outage into
thousands of replays. Instead the subscription pauses new reads and sends one probe at a
time, with growing delay, until one succeeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiwf.bus.errors import BackendUnavailable
from aiwf.bus.outcome import signature
from aiwf.bus.retry import RetryPolicy


@dataclass
class OutageDetector:
    """Counts consecutive same-signature failures of distinct events."""

    policy: RetryPolicy
    paused: bool = False
    reason: str = ""
    _streak: int = 0
    _signature: str = ""
    _event_ids: set[str] = field(default_factory=set)
    _probe_at: float = 0.0
    _probe_delay: float = 0.0

    def failed(self, event_id: str, exc: BaseException) -> None:
        """Record a failure; pause when it looks like an outage."""
        sig = signature(exc)
        if sig != self._signature:
            self._signature, self._streak, self._event_ids = sig, 0, set()
        if event_id not in self._event_ids:
            self._event_ids.add(event_id)
            self._streak += 1
        if isinstance(exc, BackendUnavailable) or self._streak >= self.policy.outage_after:
            if not self.paused:
                self.paused, self.reason = True, sig
                self._probe_delay = self.policy.backoff_base_s
            else:
                self._probe_delay = min(self.policy.probe_max_s, self._probe_delay * 2)
            self._probe_at = time.monotonic() + self._probe_delay

    def succeeded(self) -> None:
        """A success ends any streak and any pause."""
        if not self.paused and not self._streak:
            return  # the common case, once per handled event
        self.paused, self.reason, self._streak, self._signature = False, "", 0, ""
        self._event_ids.clear()

    def probe_due(self) -> bool:
        """While paused: True when the next single probe may be sent."""
        return self.paused and time.monotonic() >= self._probe_at
