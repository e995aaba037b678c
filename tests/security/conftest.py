"""Fixtures: one Redis >= 7.0 per module with the generated ACL, flushed (by the test admin) before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from aiwf.bus.connection import connect
from aiwf.schemas.secrets import generate
from tests.security.world import AclRedis, acl_redis, redis7


@pytest.fixture(scope="module")
def acl() -> Iterator[AclRedis]:
    """A Redis 7 loading the ACL file `aiwf acl generate` writes (skipped without redis-server >= 7.0)."""
    with acl_redis(redis7()) as server:
        yield server


@pytest.fixture
async def admin(acl: AclRedis) -> AsyncIterator[aioredis.Redis]:
    """The test driver's client (every permission), on an empty database."""
    client = connect(acl.url, acl.admin())
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def sealing_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Sealing keys for every secret owner and the gateway, made the process default."""
    root = tmp_path / "keys"
    generate(root, ["auth", "documents", "gateway"])
    monkeypatch.setenv("AIWF_KEYS_DIR", str(root))
    return root
