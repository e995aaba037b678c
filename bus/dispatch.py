"""Dispatch: one delivered entry -> decode -> dedupe -> middleware + handler -> an Outcome.

The consumer runs `concurrency` dispatch slots; each takes the next entry as soon as it is
free, so a slow handler holds its own slot and nothing else. Failures are sorted by
bus/outcome.py's classify(), after bus/outage.py has weighed them as outage evidence.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiwf.bus import codec
from aiwf.bus.config import BusConfig
from aiwf.bus.decision import Decision, Nack
from aiwf.bus.errors import HandlerTimeout, PermanentError
from aiwf.bus.handler import Context, Deadlines, Subscription
from aiwf.bus.middleware import Call, Middleware, wrap
from aiwf.bus.outage import OutageDetector
from aiwf.bus.outcome import DeadLetter, Done, Outcome, Retry, Skip, classify, format_traceback
from aiwf.bus.reclaim import Delivery
from aiwf.bus.stats import Stats
from aiwf.schemas import REGISTRY, Envelope, Event, SchemaError

#: A slot still busy this long after its handler's timeout ignores cancellation: it is stuck.
STUCK_GRACE_S = 5.0


@dataclass(frozen=True)
class Finished:
    """An entry whose outcome is known; Retry outcomes never reach the commit."""

    delivery: Delivery
    envelope: Envelope | None
    outcome: Outcome


class Dispatcher:
    """Runs the handlers of one subscription for one consumer."""

    def __init__(
        self,
        sub: Subscription,
        *,
        service: str,
        consumer: str,
        config: BusConfig,
        outage: OutageDetector,
        stats: Stats,
        middleware: Sequence[Middleware],
        deps: Any = None,
    ) -> None:
        self.sub, self.service, self.consumer, self.config = sub, service, consumer, config
        self.outage, self.stats, self.deps = outage, stats, deps
        #: Each event type's handler inside the middleware, composed once.
        self.calls: dict[str, Call] = {t: wrap(h, middleware) for t, h in sub.handlers.items()}
        #: Event ids being handled or waiting for their commit: a second copy waits its turn.
        self.active: set[str] = set()
        self._started: dict[int, float] = {}
        #: This consumer's running calls, watched by its timeouts task (bus/middleware/timeout.py).
        self.deadlines = Deadlines()

    def stuck(self) -> bool:
        """True when every slot has run past its timeout (and the grace): cancellation is not landing."""
        if len(self._started) < self.sub.concurrency:
            return False
        return time.monotonic() - max(self._started.values()) > self.sub.timeout_s + STUCK_GRACE_S

    async def dispatch(self, d: Delivery, known_done: bool, slot: int) -> Finished:
        """The outcome of one delivery (never raises for anything an event or a handler does)."""
        env = self._decode(d)
        if not isinstance(env, Envelope):
            return Finished(d, None, env)
        if known_done:
            self.stats.duplicates += 1
            return Finished(d, env, Skip("already processed"))
        if env.id in self.active:  # a second copy of an event in flight waits for the first's commit
            return Finished(d, env, Retry(self.sub.retry.backoff_base_s, None))
        self.active.add(env.id)
        self._started[slot] = time.monotonic()
        try:
            outcome = await self._handle(env, d)
        finally:
            del self._started[slot]
        if isinstance(outcome, Retry):
            self.active.discard(env.id)
        return Finished(d, env, outcome)

    def _decode(self, d: Delivery) -> Envelope | DeadLetter | Skip:
        if d.fields is None:
            return Skip("entry trimmed")
        try:
            env = codec.decode(d.fields, self.config.max_event_bytes)
            if env.type not in self.calls:
                REGISTRY.latest(env.type)  # an unknown type is a producer bug: dead-letter it
                return Skip("no handler")
        except SchemaError as exc:
            return DeadLetter(exc, format_traceback(exc))
        return env

    async def _handle(self, env: Envelope, d: Delivery) -> Outcome:
        ctx = Context(
            env,
            d.deliveries,
            self.consumer,
            self.sub.group,
            self.service,
            self.deps,
            self.sub.timeout_s,
            deadlines=self.deadlines,
        )
        try:
            event = REGISTRY.parse(env.type, env.version, env.payload, reader=self.service)
            result = await self.calls[env.type](event, ctx)
            if isinstance(result, Nack):
                return self._nacked(result, d)
            if isinstance(result, Decision):
                events, appends, writes = result.events, result.appends, result.writes
            else:  # a list of events, the common case: no Decision built per event
                events, appends, writes = result, (), None
            outputs = _checked(env.type, events)
            caused = [env.caused(o, producer=self.service, traceparent=ctx.traceparent_out) for o in outputs]
        except Exception as exc:  # noqa: BLE001 - a handler's failure is data, never a crash
            return self._failed(env, d, exc)
        self.outage.succeeded()
        return Done(caused, appends, writes)

    def _failed(self, env: Envelope, d: Delivery, exc: Exception) -> Outcome:
        self.stats.failed += 1
        self.stats.timeouts += isinstance(exc, HandlerTimeout)
        self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
        self.outage.failed(env.id, exc)
        return classify(exc, d.deliveries, self.sub.retry, outage=self.outage.paused)

    def _nacked(self, nack: Nack, d: Delivery) -> Outcome:
        self.outage.succeeded()  # a nack is the handler working as meant
        if d.deliveries >= self.sub.retry.max_deliveries:
            exc = PermanentError(f"nacked on each of {d.deliveries} deliveries (max_deliveries)")
            return DeadLetter(exc, format_traceback(exc))
        return Retry(nack.after_s, None)


def _checked(event_type: str, outputs: Sequence[object]) -> Sequence[Event]:
    # A list first: the ABC check behind isinstance(x, Sequence) costs more than the rest per event.
    if type(outputs) is not list and (isinstance(outputs, str | bytes) or not isinstance(outputs, Sequence)):
        raise PermanentError(f"handler for {event_type} returned {type(outputs).__name__}, not a list of Events")
    bad = [o for o in outputs if not isinstance(o, Event)]
    if bad:
        raise PermanentError(f"handler for {event_type} returned {type(bad[0]).__name__}, not an Event")
    return outputs  # type: ignore[return-value]  # checked element by element just above
