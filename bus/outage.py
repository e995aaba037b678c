"""Outage detection: evidence about a backend, never about one event.

Dead-lettering a backlog because a dependency is offline would turn one outage into thousands
of replays; retrying one poison event forever must not stall everything behind it either. So:

    evidence   BackendUnavailable (at once), or `outage_after` transient failures (TransientError,
               handler timeouts, network errors) of distinct events with one signature and no
               success between.
               Permanent failures (schema, validation, PermanentError) and plain exceptions are
               about their event and never count.
    paused     no new reads, nothing dead-lettered; a probe on a schedule: the service's own
               backend check when it has one, else one due retry, chosen in turn so that a
               single failing event cannot be the only probe. A failed backend check is about
               this instance: it hands back what it holds so a healthy instance takes it.
    degraded   the service's probe failing on a heartbeat pauses too, before any event fails.
    probe      its delay starts at `backoff_base_s` and doubles only when a probe fails, up to
               `probe_max_s`; failures of other events while paused do not move it.
    commits    an outage reply to a commit (OOM, READONLY, ... bus/replies.py) pauses as well, and
               only a commit that lands resumes: a handler that works says nothing about Redis.
    resume     on a successful probe, or any success. A passing backend check also makes the
               next `probe_max_s` seconds' failures count as the events' own: a request that
               fails while its backend is healthy reaches max deliveries and the dead letters.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiwf.bus.backoff import Backoff
from aiwf.bus.errors import BackendUnavailable, TransientError
from aiwf.bus.outcome import signature
from aiwf.bus.retry import RetryPolicy


def is_evidence(exc: BaseException) -> bool:
    """True for failures that say something about a backend rather than about one event:
    TransientError (BackendUnavailable, handler timeouts) and network errors (OSError, TimeoutError)."""
    return isinstance(exc, TransientError | OSError | TimeoutError)


@dataclass
class OutageDetector:
    """Counts consecutive same-signature transient failures of distinct events."""

    policy: RetryPolicy
    paused: bool = False
    reason: str = ""
    paused_since: float = 0.0
    _streak: int = 0
    _signature: str = ""
    _event_ids: set[str] = field(default_factory=set)
    _probe_at: float = 0.0
    _failed_probes: int = 0
    _trusted_until: float = 0.0
    #: Redis refuses commits: only a landed commit resumes, and probes are entries, not backend checks.
    commits_refused: bool = False

    def failed(self, event_id: str, exc: BaseException) -> None:
        """Record a failure; pause when it is evidence of an outage."""
        if not is_evidence(exc) or time.monotonic() < self._trusted_until:
            return
        sig = signature(exc)
        if sig != self._signature:
            self._signature, self._streak, self._event_ids = sig, 0, set()
        if event_id not in self._event_ids:
            self._event_ids.add(event_id)
            self._streak += 1
        if not self.paused and (isinstance(exc, BackendUnavailable) or self._streak >= self.policy.outage_after):
            self.paused, self.reason, self.paused_since = True, sig, time.monotonic()
            self._failed_probes = 0
            self._probe_at = time.monotonic() + self._probe_delay()

    def backend_down(self, reason: str) -> None:
        """The service's own backend check failed outside any handler: pause before taking work."""
        if not self.paused:
            self.paused, self.reason, self.paused_since = True, reason, time.monotonic()
            self._failed_probes = 0
            self._probe_at = time.monotonic() + self._probe_delay()

    def probe_failed(self) -> None:
        """The probe failed: wait longer before the next one."""
        self._failed_probes += 1
        self._probe_at = time.monotonic() + self._probe_delay()

    def commit_refused(self, reason: str) -> None:
        """Redis answered a commit with an outage reply: pause until a commit lands."""
        self.commits_refused = True
        if not self.paused:
            self.paused, self.reason, self.paused_since = True, reason, time.monotonic()
            self._failed_probes = 0
            self._probe_at = time.monotonic() + self._probe_delay()

    def commit_landed(self) -> None:
        """A commit went through: a pause for refused commits ends."""
        if self.commits_refused:
            self.commits_refused = False
            self.succeeded()

    def succeeded(self) -> None:
        """A success ends any streak and any pause (a pause for refused commits waits for a commit)."""
        if not self.paused and not self._streak:
            return  # the common case, once per handled event
        if self.commits_refused:
            return
        self.paused, self.reason, self._streak, self._signature = False, "", 0, ""
        self._event_ids.clear()

    def backend_ok(self) -> None:
        """The service's own backend check passed: resume, and for `probe_max_s` treat failures
        as the events' own (they count towards max deliveries and may be dead-lettered)."""
        self.succeeded()
        self._trusted_until = time.monotonic() + self.policy.probe_max_s

    def probe_due(self) -> bool:
        """While paused: True when the next probe may be sent (and takes that turn)."""
        if not self.paused or time.monotonic() < self._probe_at:
            return False
        self._probe_at = time.monotonic() + self._probe_delay()  # one probe per turn, until it reports
        return True

    def _probe_delay(self) -> float:
        """backoff_base_s, doubled per failed probe up to probe_max_s (no jitter: one prober)."""
        backoff = Backoff(self.policy.backoff_base_s, max(self.policy.backoff_base_s, self.policy.probe_max_s), "none")
        return backoff.delay(self._failed_probes + 1)

    def paused_for(self) -> float:
        """Seconds since the pause began (0 when running)."""
        return time.monotonic() - self.paused_since if self.paused else 0.0
