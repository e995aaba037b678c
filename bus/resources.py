"""Resources a handler needs beyond its event: a Redis client of its own, per event loop.

Services that keep state in the event store (auth, calendar) need a client inside their
handlers, but a Service is declared at import time, before any loop or connection exists.
`PerLoop` builds the resource on first use in the running loop, so a worker (one loop) and
a test suite (a loop per test) both get a client bound to the loop they run in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, connect
from aiwf.bus.errors import RedisUnavailable
from aiwf.bus.server import running_embedded_url

T = TypeVar("T")


class PerLoop(Generic[T]):
    """One `T` per event loop, built by `build(client, config)` with a client of its own."""

    def __init__(self, service: str, build: Callable[[Redis, BusConfig], T]) -> None:
        self.service = service
        self._build = build
        self._by_loop: dict[int, tuple[Redis, T]] = {}

    async def get(self) -> T:
        """This loop's resource, connecting to REDIS_URL (or the embedded server) the first time."""
        loop = id(asyncio.get_running_loop())
        held = self._by_loop.get(loop)
        if held is None:
            config = BusConfig.from_env(producer=self.service)
            url = config.redis_url or running_embedded_url(config.data_dir)
            if url is None:
                raise RedisUnavailable(f"{self.service}: no Redis; set REDIS_URL or start one with `aiwf up`")
            client = connect(url, config)
            held = (client, self._build(client, config))
            self._by_loop = {loop: held}  # an older loop's client is unusable here: drop it
        return held[1]

    async def close(self) -> None:
        """Close this loop's client."""
        held = self._by_loop.pop(id(asyncio.get_running_loop()), None)
        if held is not None:
            await held[0].aclose()
