"""Middleware: what runs around every handler call, in one visible stack.

A middleware takes the next call and returns a call (watermill's HandlerMiddleware):

    def my_middleware(call: Call) -> Call:
        async def run(event, ctx):
            ...                      # before
            return await call(event, ctx)
        return run

DEFAULT_MIDDLEWARE lists the stack outermost first; a worker author adds one to every
subscription of a service with `Service(..., middleware=(*DEFAULT_MIDDLEWARE, my_middleware))`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import reduce
from typing import Any

from aiwf.bus.chaos import chaos
from aiwf.bus.decision import Result
from aiwf.bus.handler import Context
from aiwf.bus.middleware.logging import logging_middleware
from aiwf.bus.middleware.metrics import metrics
from aiwf.bus.middleware.timeout import timeout
from aiwf.bus.middleware.tracing import tracing

Call = Callable[[Any, Context], Awaitable[Result]]
"""(event, ctx) -> the handler's result."""
Middleware = Callable[[Call], Call]
"""Wraps a call and returns a call."""

#: Outermost first: log lines carry the event's ids throughout, the span covers the whole run,
#: including a timeout; metrics time the handler with its timeout and count a timeout as a failure.
#: chaos (innermost) is the call itself unless AIWF_CHAOS=1 (bus/chaos.py).
DEFAULT_MIDDLEWARE: tuple[Middleware, ...] = (logging_middleware(), tracing, metrics, timeout, chaos)


def wrap(call: Call, middleware: Sequence[Middleware]) -> Call:
    """`call` inside `middleware` (the first is the outermost)."""
    return reduce(lambda inner, outer: outer(inner), reversed(middleware), call)


__all__ = ["DEFAULT_MIDDLEWARE", "Call", "Middleware", "logging_middleware", "metrics", "timeout", "tracing", "wrap"]
