"""The Redis client: explicit timeouts, no hidden retries, and tenacity for the retries we want.

redis-py's own retry would resend a non-idempotent XADD silently; here a call is retried
only by `retrying()`, a bounded and jittered budget, and only on connection-level errors.
A retried publish may land twice: consumers dedupe on the event id.

A `redis+cluster://host:port` URL (or `rediss+cluster://`) names a Redis Cluster by any one of
its nodes: the client is redis-py's `RedisCluster`, which learns the slot map, follows MOVED
and ASK, and relearns the map after a failover. Everything else is one node (or its replicas).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from aiwf.bus.config import BusConfig
from aiwf.bus.errors import RedisUnavailable

T = TypeVar("T")
Redis = aioredis.Redis
CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError, OSError)


#: URL schemes that name a Redis Cluster instead of one node.
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")


def is_cluster_url(url: str) -> bool:
    """True for `redis+cluster://...` and `rediss+cluster://...`."""
    return url.startswith(CLUSTER_SCHEMES)


def node_url(url: str) -> str:
    """The plain redis:// (rediss://) form of a cluster URL; any other URL unchanged."""
    return url.replace("+cluster://", "://", 1) if is_cluster_url(url) else url


def is_cluster(client: Redis) -> bool:
    """True when `client` talks to a Redis Cluster (one slot per Lua call or MULTI)."""
    return isinstance(client, RedisCluster)


def slot(key: str) -> int:
    """The Redis Cluster hash slot of `key` (its `{tag}` when it has one)."""
    return int(key_slot(key.encode()))


def connect(url: str, config: BusConfig) -> Redis:
    """A client with socket and connect timeouts and redis-py's own retries turned off.

    A cluster URL gives a `RedisCluster`, typed as `Redis`: the bus uses only the commands both
    share, and the few places that differ ask `is_cluster()`.
    """
    if is_cluster_url(url):
        # redis-py's own cluster retry (3 tries) stays on: it is what follows a failover to the
        # promoted replica; our tenacity budget sits around it.
        return cast(
            "Redis",
            RedisCluster.from_url(
                node_url(url),
                socket_timeout=config.socket_timeout_s,
                socket_connect_timeout=config.connect_timeout_s,
                health_check_interval=30,
            ),
        )
    return aioredis.Redis.from_url(
        url,
        socket_timeout=config.socket_timeout_s,
        socket_connect_timeout=config.connect_timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )


async def retrying(call: Callable[[], Awaitable[T]], config: BusConfig, what: str) -> T:
    """Run `call` with up to `config.attempts` tries on connection errors, then RedisUnavailable.

    The first try runs bare: building a tenacity loop costs a quarter of a lone publish, and
    almost every call succeeds the first time.
    """
    try:
        return await call()
    except CONNECTION_ERRORS as exc:
        if config.attempts == 1:
            raise RedisUnavailable(f"{what}: Redis did not answer after 1 try ({exc})") from None
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(config.attempts - 1),
            wait=wait_random_exponential(multiplier=0.05, max=0.5),
            retry=retry_if_exception_type(CONNECTION_ERRORS),
            reraise=True,
        ):
            with attempt:
                return await call()
    except CONNECTION_ERRORS as exc:
        raise RedisUnavailable(f"{what}: Redis did not answer after {config.attempts} tries ({exc})") from None
    raise AssertionError("unreachable")  # pragma: no cover - AsyncRetrying either returns or raises


async def server_version(client: Redis) -> tuple[int, int, int]:
    """The server's (major, minor, patch), for choosing newer commands where they exist."""
    info = await client.info("server")
    major, minor, patch = (int(p) for p in str(info["redis_version"]).split(".")[:3])
    return major, minor, patch
