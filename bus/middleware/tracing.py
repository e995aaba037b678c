"""Tracing: a CONSUMER span around the handler, parented by the event's traceparent, whose
context the outputs carry on (`ctx.traceparent_out`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiwf.bus.decision import Result
from aiwf.bus.handler import Context
from aiwf.bus.telemetry import current_traceparent, enabled, handle_span


def tracing(call: Callable[[Any, Context], Awaitable[Result]]) -> Callable[[Any, Context], Awaitable[Result]]:
    """Run the call in a span; record its exception; hand the span's context to the outputs."""

    async def run(event: Any, ctx: Context) -> Result:
        if not enabled():
            return await call(event, ctx)  # the hot path when no TracerProvider is installed
        with handle_span(ctx.envelope, ctx.group) as span:
            try:
                result = await call(event, ctx)
            except Exception as exc:
                span.record_exception(exc)
                raise
            ctx.traceparent_out = current_traceparent()
            return result

    return run
