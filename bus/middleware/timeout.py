"""Timeout: a handler that has not returned within its subscription's `timeout_s` is cancelled,
and its event is retried with the timeout as its error.

Deliberately not `asyncio.timeout()` per call: that pushes and cancels a timer on the loop's
heap for every event, about a seventh of the consume path's CPU per event. Each consumer runs
one `Deadlines.watch()` task instead, which looks at its running calls every WATCH_S: a call
costs two dict operations and a timeout lands at most WATCH_S late (timeouts are seconds to
minutes). A Context without Deadlines (a handler called outside a consumer) has no timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiwf.bus.decision import Result
from aiwf.bus.errors import HandlerTimeout
from aiwf.bus.handler import Context, Deadlines

#: How often a consumer's watch task looks for calls past their deadline.
WATCH_S = 0.1


async def watch(deadlines: Deadlines) -> None:
    """Cancel every call of `deadlines` that runs past its deadline; runs until cancelled."""
    while True:
        await asyncio.sleep(WATCH_S)
        now = time.monotonic()
        for task, deadline in list(deadlines.running.items()):
            if deadline <= now and task not in deadlines.expired:
                deadlines.expired.add(task)
                task.cancel()


def timeout(call: Callable[[Any, Context], Awaitable[Result]]) -> Callable[[Any, Context], Awaitable[Result]]:
    """Cancel the call after `ctx.timeout_s` seconds and raise HandlerTimeout (a TransientError)."""

    async def run(event: Any, ctx: Context) -> Result:
        task, deadlines = asyncio.current_task(), ctx.deadlines
        if deadlines is None or task is None:
            return await call(event, ctx)
        deadlines.running[task] = time.monotonic() + ctx.timeout_s
        try:
            return await call(event, ctx)
        except asyncio.CancelledError:
            if deadlines.took_back(task) and task.uncancel() == 0:
                raise HandlerTimeout(f"handler did not finish within {ctx.timeout_s:g}s") from None
            raise  # a stop of the consumer (or a cancel on top of ours): not a timeout
        finally:
            del deadlines.running[task]
            if deadlines.took_back(task):  # the handler swallowed our cancel: take it back all the same
                task.uncancel()

    return run
