"""The Redis client: explicit timeouts, no hidden retries, and tenacity for the retries we want.

redis-py's own retry would resend a non-idempotent XADD silently; here a call is retried
only by `retrying()`, a bounded and jittered budget, and only on connection-level errors.
A retried publish may land twice: consumers dedupe on the event id.

A `redis+cluster://host:port` URL (or `rediss+cluster://`) names a Redis Cluster by any one of
its nodes: the client is redis-py's `RedisCluster`, which learns the slot map, follows MOVED
and ASK, and relearns the map after a failover. Everything else is one node (or its replicas).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import AuthenticationError, NoPermissionError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from aiwf.bus.config import BusConfig, RedisAccess
from aiwf.bus.errors import ConfigError, RedisUnavailable
from aiwf.schemas.secretfile import check_private, read_secret_file

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

    It logs in as AIWF_REDIS_USERNAME (a user:password in the URL wins) and, for `rediss://`,
    verifies the server against AIWF_REDIS_TLS_CA, host name included, presenting
    AIWF_REDIS_TLS_CERT / AIWF_REDIS_TLS_KEY when set.
    A cluster URL gives a `RedisCluster`, typed as `Redis`: the bus uses only the commands both
    share, and the few places that differ ask `is_cluster()` (ACL users and TLS are not wired
    for a Cluster yet).
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
        **credentials(config.access),
        **(tls_options(config.access) if urlsplit(url).scheme == "rediss" else {}),
    )


def credentials(access: RedisAccess) -> dict[str, Any]:
    """redis-py's username/password from AIWF_REDIS_USERNAME and AIWF_REDIS_PASSWORD(_FILE); {} when unset."""
    out: dict[str, Any] = {}
    if access.username:
        out["username"] = access.username
    if access.password is not None:
        out["password"] = access.password.get_secret_value()
    elif access.password_file is not None:
        out["password"] = read_secret_file(access.password_file, "AIWF_REDIS_PASSWORD_FILE")
    return out


def tls_options(access: RedisAccess) -> dict[str, Any]:
    """redis-py's TLS options: the server's certificate and host name verified, our certificate if we have one."""
    if access.tls_key is not None:
        check_private(access.tls_key, "AIWF_REDIS_TLS_KEY")
    return {
        "ssl_cert_reqs": "required",
        "ssl_check_hostname": True,
        "ssl_ca_certs": str(access.tls_ca) if access.tls_ca else None,
        "ssl_certfile": str(access.tls_cert) if access.tls_cert else None,
        "ssl_keyfile": str(access.tls_key) if access.tls_key else None,
    }


def user_of(url: str, config: BusConfig) -> str:
    """The ACL user a client of `url` logs in as: the URL's, AIWF_REDIS_USERNAME, else `default`."""
    name = urlsplit(url).username
    return unquote(name) if name else config.access.username or "default"


async def check_access(client: Redis, url: str, config: BusConfig) -> None:
    """ConfigError naming the user when Redis refuses its login or its TLS handshake fails; other errors pass.

    A process calls this before its first real command, so wrong credentials stop it at start
    with one line instead of surfacing at its first event. An unreachable Redis is not a
    credentials problem: that is left to the caller's own outage handling.
    """
    user = user_of(url, config)
    try:
        await client.ping()
    except AuthenticationError as exc:
        raise ConfigError(
            f"Redis refused user {user!r}: {exc} (check AIWF_REDIS_USERNAME and AIWF_REDIS_PASSWORD[_FILE])"
        ) from None
    except NoPermissionError as exc:
        raise ConfigError(f"Redis user {user!r} may not even PING: {exc} (see `aiwf acl generate`)") from None
    except ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise ConfigError(
                f"Redis refused user {user!r}: {exc} (set AIWF_REDIS_USERNAME and AIWF_REDIS_PASSWORD[_FILE])"
            ) from None
        raise
    except CONNECTION_ERRORS as exc:
        reason = tls_failure(exc)
        if reason is not None:
            raise ConfigError(f"TLS to Redis failed for user {user!r}: {reason}") from None


def tls_failure(exc: BaseException) -> str | None:
    """What went wrong in a TLS handshake, from redis-py's wrapped error; None when it was not TLS."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return f"the server's certificate was refused: {seen.verify_message}"
        if isinstance(seen, ssl.SSLError):
            return f"{seen.reason or seen}".lower().replace("_", " ")
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    for marker in ("SSL", "certificate", "TLS"):
        if marker in text:
            return text
    return None


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
