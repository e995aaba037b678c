"""Metrics: how long each handler call takes and whether it raised, per event type.

The figures belong to the consumer running the call (bus/metrics); without them (a consumer
built without this middleware) the call runs untouched. The outcome counters are fed from
the commit results, not from here: only the commit knows whether an event landed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiwf.bus.decision import Result
from aiwf.bus.handler import Context
from aiwf.bus.metrics.figures import CURRENT


def metrics(call: Callable[[Any, Context], Awaitable[Result]]) -> Callable[[Any, Context], Awaitable[Result]]:
    """Observe aiwf_handler_duration_seconds, and count aiwf_handler_failures_total when the call raises."""

    async def run(event: Any, ctx: Context) -> Result:
        figures = CURRENT.get()
        if figures is None:
            return await call(event, ctx)
        start = time.perf_counter()
        try:
            result = await call(event, ctx)
        except Exception:
            figures.handler_took(ctx.envelope.type, time.perf_counter() - start, failed=True)
            raise
        figures.handler_took(ctx.envelope.type, time.perf_counter() - start, failed=False)
        return result

    return run
