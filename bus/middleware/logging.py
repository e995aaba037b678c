"""Logging middleware: every line written while a handler runs carries its event's ids.

The event is bound to the task for the duration of the call (bus.logs.bind_event: one
ContextVar, its ids built only when a line is written), so bus internals that log through
stdlib `logging` during the handler (a retry, a store read) are tagged as well. A
finished call is one debug line with its duration; a raising call one warning line with the
error's type and message (never the payload), and the exception goes on to the bus.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, TypeVar

import structlog

from aiwf.bus.logs import HANDLER_LOGGER, bind_event, error_text, unbind_event
from aiwf.schemas import Envelope

__all__ = ["Delivery", "logging_middleware"]

_log: Final = structlog.stdlib.get_logger(HANDLER_LOGGER)
_stdlib: Final = logging.getLogger(HANDLER_LOGGER)


class Delivery(Protocol):
    """What this middleware reads from a handler's Context."""

    @property
    def envelope(self) -> Envelope: ...
    @property
    def service(self) -> str: ...
    @property
    def consumer(self) -> str: ...
    @property
    def group(self) -> str: ...


C = TypeVar("C", bound=Delivery)


class _Wrap(Protocol):
    """A Middleware for any Context that has a Delivery's attributes."""

    def __call__(self, call: Callable[[Any, C], Awaitable[Any]], /) -> Callable[[Any, C], Awaitable[Any]]: ...


def logging_middleware() -> _Wrap:
    """Wrap a handler call so its lines carry the event's ids and its outcome is logged."""

    def wrap(call: Callable[[Any, C], Awaitable[Any]]) -> Callable[[Any, C], Awaitable[Any]]:
        async def logged(event: Any, ctx: C) -> Any:
            token = bind_event(ctx.envelope, service=ctx.service, consumer=ctx.consumer, group=ctx.group)
            started = time.perf_counter()
            try:
                result = await call(event, ctx)
            except Exception as exc:
                _log.warning(
                    "handler failed",
                    error_type=type(exc).__qualname__,
                    error=error_text(exc),
                    duration_ms=_ms_since(started),
                )
                raise
            else:
                if _stdlib.isEnabledFor(logging.DEBUG):  # skips the processor chain per event at INFO
                    _log.debug("handled", duration_ms=_ms_since(started))
                return result
            finally:
                unbind_event(token)

        return logged

    return wrap


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
