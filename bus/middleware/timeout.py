"""Timeout: a handler that has not returned within its subscription's `timeout_s` is cancelled,
and its event is retried with the timeout as its error.

Deliberately not `asyncio.timeout()` per call: that pushes and cancels a timer on the loop's
heap for every event, about a seventh of the consume path's CPU per event. One watchdog task
per event loop looks at the running calls every WATCH_S instead, so a call costs two dict
operations and a timeout lands at most WATCH_S late (timeouts are seconds to minutes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiwf.bus.decision import Result
from aiwf.bus.errors import HandlerTimeout
from aiwf.bus.handler import Context

#: How often the watchdog looks for calls past their deadline.
WATCH_S = 0.1


class _Watchdog:
    """The running calls of one event loop and their deadlines; cancels the late ones."""

    def __init__(self) -> None:
        self.deadlines: dict[asyncio.Task[Any], float] = {}
        self.expired: set[asyncio.Task[Any]] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self, task: asyncio.Task[Any], deadline: float) -> None:
        self.deadlines[task] = deadline
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="aiwf-handler-timeouts")

    def took_back(self, task: asyncio.Task[Any]) -> bool:
        """True (once) when the watchdog cancelled `task`."""
        if task in self.expired:
            self.expired.discard(task)
            return True
        return False

    async def _run(self) -> None:
        while self.deadlines:  # ends when nothing runs; the next call starts it again
            await asyncio.sleep(WATCH_S)
            now = time.monotonic()
            for task, deadline in list(self.deadlines.items()):
                if deadline <= now and task not in self.expired:
                    self.expired.add(task)
                    task.cancel()


_WATCHDOGS: dict[asyncio.AbstractEventLoop, _Watchdog] = {}


def _watchdog() -> _Watchdog:
    loop = asyncio.get_running_loop()
    dog = _WATCHDOGS.get(loop)
    if dog is None:
        for old in [lp for lp in _WATCHDOGS if lp.is_closed()]:
            del _WATCHDOGS[old]
        dog = _WATCHDOGS[loop] = _Watchdog()
    return dog


def timeout(call: Callable[[Any, Context], Awaitable[Result]]) -> Callable[[Any, Context], Awaitable[Result]]:
    """Cancel the call after `ctx.timeout_s` seconds and raise HandlerTimeout (a TransientError)."""

    async def run(event: Any, ctx: Context) -> Result:
        task = asyncio.current_task()
        assert task is not None  # a handler always runs in a task
        dog = _watchdog()
        dog.watch(task, time.monotonic() + ctx.timeout_s)
        try:
            return await call(event, ctx)
        except asyncio.CancelledError:
            if dog.took_back(task) and task.uncancel() == 0:
                raise HandlerTimeout(f"handler did not finish within {ctx.timeout_s:g}s") from None
            raise  # a stop of the consumer (or a cancel on top of ours): not a timeout
        finally:
            del dog.deadlines[task]
            if dog.took_back(task):  # the handler swallowed our cancel: take it back all the same
                task.uncancel()

    return run
