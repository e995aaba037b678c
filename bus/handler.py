"""What a worker author writes: a typed async handler and a subscription declaring it.

documents = Subscription(stream="documents", group="documents")

@documents.handler
async def on_uploaded(event: DocumentUploaded, ctx: Context) -> list[Event]:
    ...
    return [DocumentProcessed(...)]
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.errors import ConfigError
from aiwf.bus.retry import RetryPolicy
from aiwf.schemas import Envelope, Event


@dataclass(frozen=True)
class Context:
    """What a handler may know about the delivery of its event."""

    envelope: Envelope
    deliveries: int
    consumer: str
    group: str
    log: logging.Logger
    #: The consumer's Redis client and config, for bus-level handlers (store projections) that
    #: commit with their own atomic step. Service handlers return events and never write with
    #: it. None when a test builds a Context by hand.
    client: Redis | None = None
    config: BusConfig | None = None


class Handler(Protocol):
    """Called at least once per event; safe to re-run; returns output events, never publishes.

    The bus commits the returned events, the processed-marker and the ack in one atomic
    step. Raise PermanentError to dead-letter at once, TransientError to retry, and
    BackendUnavailable when a dependency is down (pause, never dead-letter).
    """

    def __call__(self, event: Any, ctx: Context, /) -> Awaitable[Sequence[Event]]: ...


@dataclass
class Subscription:
    """One consumer group on one domain stream, with its handlers by event type.

    Event types on the stream without a handler here are acknowledged and skipped: a
    domain stream carries every event of its domain, and each group takes what it needs.
    """

    stream: str
    group: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Entries read per XREADGROUP; their commits share one round trip.
    batch: int = 100
    #: Handlers running at once for this subscription.
    concurrency: int = 16
    handlers: dict[str, Handler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.batch <= 10_000:
            raise ConfigError(f"Subscription batch must be 1..10000, got {self.batch}")
        if not 1 <= self.concurrency <= 10_000:
            raise ConfigError(f"Subscription concurrency must be 1..10000, got {self.concurrency}")

    def handler(self, fn: Callable[..., Awaitable[Sequence[Event]]]) -> Callable[..., Awaitable[Sequence[Event]]]:
        """Decorator: register `fn` for the Event type named by its first parameter's annotation."""
        hints = typing.get_type_hints(fn)
        model = next((hints[p] for p in fn.__code__.co_varnames[: fn.__code__.co_argcount] if p in hints), None)
        if not (isinstance(model, type) and issubclass(model, Event) and hasattr(model, "event_type")):
            raise ConfigError(f"{fn.__qualname__}: annotate the first parameter with a registered Event model")
        self.on(model, fn)
        return fn

    def on(self, model: type[Event], fn: Callable[..., Awaitable[Sequence[Event]]]) -> None:
        """Register `fn` for `model`'s event type (the non-decorator form)."""
        if model.event_type in self.handlers:
            raise ConfigError(f"{self.group}: two handlers for {model.event_type}")
        self.handlers[model.event_type] = fn
