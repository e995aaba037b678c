"""Fixtures: one real Redis per session (see bus.testing.redis_server), flushed before each test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from aiwf.bus.config import BusConfig
from aiwf.bus.testing import redis_server


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis: REDIS_URL, testcontainers, or the embedded binary (AIWF_TEST_REDIS_SERVER picks one)."""
    with redis_server(os.environ.get("AIWF_TEST_REDIS_SERVER")) as url:
        yield url


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on an empty database."""
    c = aioredis.Redis.from_url(redis_url)
    await c.flushdb()
    yield c
    await c.aclose()


@pytest.fixture
def config(redis_url: str) -> BusConfig:
    """Bus settings for tests: the test Redis and a short marker TTL."""
    return BusConfig(redis_url=redis_url, producer="tests", marker_ttl_s=3600)
