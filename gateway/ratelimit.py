"""Rate limits per client address and per user: the `limits` library on its Redis storage.

Counters live in Redis (under `aiwf:gw:limits`), so every replica shares them. A request over
its limit is 429 with Retry-After (seconds until the window frees a slot). The address limit is
checked on every /api/v1 request, the user limit once the bearer token names the user.
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.exceptions import HTTPException

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import credentials, tls_options
from aiwf.bus.keys import PREFIX

__all__ = ["LIMITS_PREFIX", "RateLimits", "limit_address"]

#: Where the counters live (the gateway's ACL user owns these keys).
LIMITS_PREFIX = f"{PREFIX}:gw:limits"


class RateLimits:
    """The per-address and per-user limits (`limits` notation, e.g. "120/minute") on a Redis storage."""

    def __init__(self, url: str, config: BusConfig, per_address: str, per_user: str) -> None:
        # redispy: the client this project already ships (the library's default would be coredis); the
        # gateway's own Redis user and TLS files, as every other client of it.
        options = {**credentials(config.access), **(tls_options(config.access) if url.startswith("rediss") else {})}
        storage = RedisStorage(f"async+{url}", implementation="redispy", key_prefix=LIMITS_PREFIX, **options)
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._address: RateLimitItem = parse(per_address)
        self._user: RateLimitItem = parse(per_user)

    async def check(self, kind: str, who: str) -> None:
        """Count one request of `who`; 429 + Retry-After past the limit."""
        item = self._address if kind == "address" else self._user
        if await self._limiter.hit(item, kind, who):
            return
        stats = await self._limiter.get_window_stats(item, kind, who)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        message = f"too many requests for this {kind} ({item}); retry in {wait} s"
        raise HTTPException(429, message, headers={"Retry-After": str(wait)})


async def limit_address(request: Request) -> None:
    """Count the request against its client address (a router dependency)."""
    limits: RateLimits = request.app.state.limits
    address = request.client.host if request.client else "unknown"
    await limits.check("address", address)
