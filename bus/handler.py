"""What a worker author writes: a typed async handler and a subscription declaring it.

documents = Subscription(stream="documents", group="documents")

@documents.handler
async def on_uploaded(event: DocumentUploaded, ctx: Context) -> list[Event]:
    ...
    return [DocumentProcessed(...)]
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol, TypeVar

from aiwf.bus.decision import Result
from aiwf.bus.errors import ConfigError
from aiwf.bus.logs import event_logger
from aiwf.bus.retry import RetryPolicy
from aiwf.schemas import REGISTRY, Envelope, Event

T = TypeVar("T")
#: A handler that has not returned after this long is cancelled and its event retried.
DEFAULT_HANDLER_TIMEOUT_S = 60.0


class Deadlines:
    """The running handler calls of one consumer and when each must end (see bus/middleware/timeout.py)."""

    def __init__(self) -> None:
        self.running: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()

    def took_back(self, task: asyncio.Task[Any]) -> bool:
        """True (once) when the watch task cancelled `task` for its deadline."""
        if task in self.expired:
            self.expired.discard(task)
            return True
        return False


@dataclass
class Context:
    """What a handler may know about the delivery of its event, and what its service gave it."""

    envelope: Envelope
    deliveries: int
    consumer: str
    group: str
    service: str = ""
    #: What the service's lifespan yielded (its event store, backends, engines); None without one.
    deps: Any = None
    timeout_s: float = DEFAULT_HANDLER_TIMEOUT_S
    #: The trace context the outputs carry (set by the tracing middleware; None: the input's).
    traceparent_out: str | None = None
    #: The bus's: where the timeout middleware registers this call (None outside a consumer: no timeout).
    deadlines: Deadlines | None = None

    @cached_property
    def log(self) -> Any:
        """A structlog logger bound to this event's ids (built on first use: most handlers never log)."""
        return event_logger(self.envelope, service=self.service, consumer=self.consumer, group=self.group)

    def dep(self, kind: type[T]) -> T:
        """The service's dependencies as `kind` (what its lifespan yielded), or ConfigError."""
        if not isinstance(self.deps, kind):
            got = type(self.deps).__name__
            raise ConfigError(f"{self.group}: the service's lifespan yielded {got}, not {kind.__name__}")
        return self.deps


class Handler(Protocol):
    """Called at least once per event; safe to re-run; returns what to write, never writes.

    Return output events, or a Decision that adds event-store appends and read-model writes:
    the bus commits them with the processed-marker and the ack in one atomic step. Return
    `Nack(after_s)` to have the event delivered again later without an error. Raise
    PermanentError to dead-letter at once, TransientError to retry, BackendUnavailable when a
    dependency is down (pause and probe, never dead-letter).
    """

    def __call__(self, event: Any, ctx: Context, /) -> Awaitable[Result]: ...


@dataclass
class Subscription:
    """One consumer group on one domain stream, with its handlers by event type.

    Event types on the stream without a handler here are acknowledged and skipped: a
    domain stream carries every event of its domain, and each group takes what it needs.
    """

    stream: str
    group: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Entries read per XREADGROUP, and the most entries one commit carries.
    batch: int = 100
    #: Handlers running at once for this subscription.
    concurrency: int = 16
    #: Seconds a handler may run before it is cancelled and its event retried.
    timeout_s: float = DEFAULT_HANDLER_TIMEOUT_S
    #: Where a new group starts: "0" reads the stream's whole history, "$" only what comes next.
    start: Literal["0", "$"] = "0"
    handlers: dict[str, Handler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.batch <= 10_000:
            raise ConfigError(f"Subscription batch must be 1..10000, got {self.batch}")
        if not 1 <= self.concurrency <= 10_000:
            raise ConfigError(f"Subscription concurrency must be 1..10000, got {self.concurrency}")
        if not 0 < self.timeout_s <= 24 * 3600:
            raise ConfigError(f"Subscription timeout_s must be in (0, 86400], got {self.timeout_s}")
        if self.start not in ("0", "$"):
            raise ConfigError(f"Subscription start must be '0' or '$', got {self.start!r}")

    def handler(self, fn: Callable[..., Awaitable[Result]]) -> Callable[..., Awaitable[Result]]:
        """Decorator: register `fn` for the Event type named by its first parameter's annotation."""
        self.on(event_model(fn), fn)
        return fn

    def on(self, model: type[Event], fn: Callable[..., Awaitable[Result]]) -> None:
        """Register `fn` for `model`'s event type (the non-decorator form)."""
        if model.event_type in self.handlers:
            raise ConfigError(f"{self.group}: two handlers for {model.event_type}")
        self.handlers[model.event_type] = fn


def event_model(fn: Callable[..., Any], localns: Mapping[str, Any] | None = None) -> type[Event]:
    """The registered Event model `fn`'s first parameter is annotated with.

    Resolves string annotations (`from __future__ import annotations`) in the function's module,
    and, for models defined inside a function, falls back to the name's registered model.
    """
    params = fn.__code__.co_varnames[: fn.__code__.co_argcount]
    if not params:
        raise ConfigError(f"{fn.__qualname__}: a handler takes (event, ctx)")
    raw = fn.__annotations__.get(params[0])
    try:
        model = typing.get_type_hints(fn, localns=dict(localns or {})).get(params[0])
    except NameError:
        model = _registered_by_name(raw)
    if not (isinstance(model, type) and issubclass(model, Event) and hasattr(model, "event_type")):
        raise ConfigError(f"{fn.__qualname__}: annotate the first parameter with a registered Event model")
    return model


def _registered_by_name(name: object) -> type[Event] | None:
    """A locally defined model named by a string annotation: the registered model of that class name."""
    if not isinstance(name, str):
        return None
    found = [m for m in REGISTRY.models.values() if m.__name__ == name]
    return found[-1] if len(found) == 1 or len({m.event_type for m in found}) == 1 else None
