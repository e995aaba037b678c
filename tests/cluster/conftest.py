"""A local Redis Cluster (3 masters, 3 replicas, AOF on) for the session; skipped without redis-server/redis-cli.

The cluster is bus/cluster.py's `LocalCluster`, the one `aiwf cluster up` starts, on a free block
of loopback ports, from AIWF_TEST_REDIS_SERVER when set (else the redis-server on PATH). Each test
starts from empty masters (FLUSHALL on every primary).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from aiwf.bus.cluster import LocalCluster, free_port_base
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, connect

MISSING = [b for b in ("redis-server", "redis-cli") if shutil.which(b) is None]
if MISSING:
    pytest.skip(f"no {' or '.join(MISSING)} on PATH: the Redis Cluster suite needs both", allow_module_level=True)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[LocalCluster]:
    """Six nodes for the whole session, stopped at its end."""
    binary = os.environ.get("AIWF_TEST_REDIS_SERVER")  # as tests/conftest.py: CI runs 6.2 too
    with tempfile.TemporaryDirectory(prefix="aiwf-cluster-") as folder:
        cluster = LocalCluster(Path(folder), free_port_base(), binary=binary).start()
        try:
            yield cluster
        finally:
            cluster.stop()


@pytest.fixture
def cluster_config(local_cluster: LocalCluster) -> BusConfig:
    """Bus settings on the cluster (`redis+cluster://`), short marker TTL."""
    return BusConfig(redis_url=local_cluster.url, producer="tests", marker_ttl_s=3600)


@pytest.fixture
async def cclient(cluster_config: BusConfig) -> AsyncIterator[Redis]:
    """A RedisCluster client on empty masters."""
    client = connect(cluster_config.redis_url or "", cluster_config)
    await client.flushall()
    yield client
    await client.aclose()
