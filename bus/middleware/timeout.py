"""Timeout: a handler that has not returned within its subscription's `timeout_s` is cancelled,
and its event is retried with the timeout as its error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiwf.bus.decision import Result
from aiwf.bus.errors import HandlerTimeout
from aiwf.bus.handler import Context


def timeout(call: Callable[[Any, Context], Awaitable[Result]]) -> Callable[[Any, Context], Awaitable[Result]]:
    """Cancel the call after `ctx.timeout_s` seconds and raise HandlerTimeout (a TransientError)."""

    async def run(event: Any, ctx: Context) -> Result:
        scope = asyncio.timeout(ctx.timeout_s)
        try:
            async with scope:
                return await call(event, ctx)
        except TimeoutError as exc:
            if scope.expired():
                raise HandlerTimeout(f"handler did not finish within {ctx.timeout_s:g}s") from exc
            raise  # the handler's own timeout (an HTTP client's, say): its error, not ours

    return run
