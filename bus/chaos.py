"""The fault hook of chaos experiments: honoured only when AIWF_CHAOS=1 in the worker's environment.

`aiwf chaos run` writes a fault into `keys.chaos(service)` (slow_ms: sleep before every handler
call; fail: every call raises); each worker's release gate reads it with the release state
(bus/fallback.py) into `current`, and the `chaos` middleware applies it. Without AIWF_CHAOS=1
the middleware is the call itself: no cost, and no way to inject a fault into production.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from aiwf.bus.decision import Result
from aiwf.bus.errors import TransientError
from aiwf.bus.handler import Context

__all__ = ["Fault", "chaos", "enabled"]


@dataclass(frozen=True)
class Fault:
    """What the chaos runner asks of a service's handlers now."""

    slow_ms: int = 0
    fail: bool = False


#: This process's fault, refreshed by the release gate while chaos is enabled.
current = Fault()


def enabled() -> bool:
    """True when this process honours injected faults (AIWF_CHAOS=1)."""
    return os.environ.get("AIWF_CHAOS") == "1"


def chaos(call: Any) -> Any:
    """Middleware: apply `current` around the handler (only under AIWF_CHAOS=1)."""
    if not enabled():
        return call

    async def run(event: Any, ctx: Context) -> Result:
        fault = current
        if fault.slow_ms:
            await asyncio.sleep(fault.slow_ms / 1000)
        if fault.fail:
            raise TransientError("chaos: injected backend failure")
        result: Result = await call(event, ctx)
        return result

    return run
