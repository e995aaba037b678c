"""Test support: a real Redis for tests, and waiting on conditions instead of sleeping.

`redis_url()` picks, in order: `REDIS_URL` if set; a testcontainers Redis when a Docker
engine answers; else the embedded redis-server on a free loopback port. Never a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

from aiwf.bus.server import EmbeddedRedis


@contextlib.contextmanager
def redis_server(binary: str | None = None) -> Iterator[str]:
    """Yield the URL of a real Redis for the duration of a test session."""
    if binary is None and os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    if binary is None and _docker_answers():
        from testcontainers.redis import RedisContainer  # noqa: PLC0415 - only with a Docker engine

        with RedisContainer("redis:7.2") as container:
            yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"
        return
    with tempfile.TemporaryDirectory(prefix="aiwf-redis-") as data, EmbeddedRedis(Path(data), binary=binary) as server:
        yield server.url


def _docker_answers() -> bool:
    try:
        import docker  # noqa: PLC0415 - optional: present only with testcontainers

        docker.from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - any failure means "no engine here"
        return False
    return True


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0, what: str = "condition"
) -> None:
    """Poll `condition` until it is true; AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
