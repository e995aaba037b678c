"""Outcome: what a handler run leads to, and the one function that decides it."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from aiwf.bus.decision import Append, Writes
from aiwf.bus.errors import PermanentError
from aiwf.bus.retry import RetryPolicy
from aiwf.schemas import Envelope, SchemaError


@dataclass(frozen=True)
class Done:
    """The handler succeeded: commit its outputs, appends and writes with the marker and the ack."""

    outputs: list[Envelope]
    appends: Sequence[Append] = ()
    writes: Writes | None = None


@dataclass(frozen=True)
class Skip:
    """Nothing to run (no handler for this type, or already processed): ack only."""

    reason: str


@dataclass(frozen=True)
class Retry:
    """Leave the entry pending and deliver it again after `delay_s`."""

    delay_s: float
    #: Why; None when the handler asked for it (a Nack).
    error: BaseException | None


@dataclass(frozen=True)
class DeadLetter:
    """Move the entry to the dead-letter stream with its diagnosis, and ack it."""

    error: BaseException
    traceback: str


Outcome = Done | Skip | Retry | DeadLetter
"""What happens to one delivered entry."""


def classify(exc: BaseException, deliveries: int, policy: RetryPolicy, *, outage: bool) -> Retry | DeadLetter:
    """Sort a handler failure: permanent now, never during an outage, otherwise after max deliveries.

    A pydantic ValidationError raised inside a handler (building an output from its input)
    is permanent too: the same input will build the same invalid output every time.
    `outage` is the subscription's state after this failure was counted (bus/outage.py): a
    BackendUnavailable pauses at once unless the service's backend check has just said the
    backend is fine, and then it counts towards max deliveries like any other failure.
    """
    if isinstance(exc, SchemaError | PermanentError | ValidationError):
        return DeadLetter(exc, format_traceback(exc))
    if outage:
        return Retry(policy.backoff_s(deliveries), exc)
    if deliveries >= policy.max_deliveries:
        return DeadLetter(exc, format_traceback(exc))
    return Retry(policy.backoff_s(deliveries), exc)


def signature(exc: BaseException) -> str:
    """Errors with one signature are 'the same failure' for outage detection."""
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {str(exc)[:200]}"


def format_traceback(exc: BaseException) -> str:
    """The traceback, capped so a dead letter stays small."""
    return "".join(traceback.format_exception(exc))[-8000:]
