"""A master killed under load: its replica is promoted, clients follow, nothing acknowledged is lost.

This test starts its own cluster with `aiwf cluster up` (and stops it with `aiwf cluster down`), so
the session's cluster keeps all three replicas for the other tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import orjson
import pytest

from aiwf.bus import Publisher, keys
from aiwf.bus.cluster import LocalCluster, free_port_base
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis, connect
from aiwf.bus.testing import wait_until
from tests.cluster.support import OUT, all_done, output_causes, spawn
from tests.events import ItemCreated
from tests.replies import Entries

pytestmark = [pytest.mark.fault, pytest.mark.slow]
AIWF = str(Path(sys.executable).parent / "aiwf")
#: The bound the test holds consumers to: cluster-node-timeout 2 s + election + the client's backoff.
RESUME_BOUND_S = 20.0


def aiwf(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    return subprocess.run([AIWF, *args], env=env, capture_output=True, text=True, timeout=90, check=False)


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """A cluster of this test's own, started and stopped through the CLI."""
    base = free_port_base()
    up = aiwf("cluster", "up", "--dir", str(tmp_path / "c"), "--port-base", str(base), "--json")
    assert up.returncode == 0, up.stderr
    info = orjson.loads(up.stdout)
    assert info["url"] == f"redis+cluster://127.0.0.1:{base}"
    assert len(info["pids"]) == 6
    cluster = LocalCluster(tmp_path / "c", base)
    try:
        yield cluster
    finally:
        down = aiwf("cluster", "down", "--dir", str(tmp_path / "c"))
        assert down.returncode == 0, down.stderr
        assert cluster.pids() == {}


async def test_master_killed_under_load_loses_no_acknowledged_event(own_cluster: LocalCluster) -> None:
    """SIGKILL the source stream's master mid-load: 0 acknowledged events lost, one output each, resumed in bound."""
    config = BusConfig(redis_url=own_cluster.url, producer="tests", socket_timeout_s=0.5, connect_timeout_s=0.5)
    client = connect(own_cluster.url, config)
    acked: list[str] = []
    stop = asyncio.Event()
    producer = asyncio.create_task(_publish_until(client, config, acked, stop))
    consumer = spawn("cluster_consumer", own_cluster.url, "0.0005")
    try:
        await wait_until(lambda: _outputs_at_least(client, 200), 30, "the consumer to commit")
        victim = client.get_node_from_key(keys.stream("testing")).port  # type: ignore[attr-defined]
        killed_at = time.monotonic()
        own_cluster.kill(victim)
        at_kill = len(acked)
        await wait_until(lambda: _true(len(acked) > at_kill), 30, "publishing to resume")
        published_s = time.monotonic() - killed_at
        after_kill = set(acked[at_kill:])
        # End to end: an event published after the kill is consumed, committed and relayed.
        await wait_until(lambda: _any_output(client, after_kill), 60, "an event published after the kill to be handled")
        resumed_s = time.monotonic() - killed_at
        stop.set()
        await producer
        await wait_until(lambda: all_done(client, len(acked)), 90, "every acknowledged input to have its output")
    finally:
        stop.set()
        consumer.terminate()
        consumer.wait(20)
    print(
        f"\nfailover: master {victim} killed; publishes acknowledged again after {published_s:.2f}s, "
        f"the first of them handled after {resumed_s:.2f}s; {len(acked)} acknowledged"
    )
    assert victim not in own_cluster.masters()
    stored = {f[b"id"].decode() for _, f in cast("Entries", await client.xrange(keys.stream("testing")))}
    assert set(acked) <= stored  # nothing acknowledged to the producer was lost
    causes = await output_causes(client)
    assert set(acked) <= set(causes)
    assert max(causes.values()) == 1
    assert resumed_s < RESUME_BOUND_S
    await client.aclose()

    # `down` then `up` on the same dir restarts the same cluster on its AOF: nothing acknowledged is gone.
    assert aiwf("cluster", "down", "--dir", str(own_cluster.data_dir)).returncode == 0
    again = aiwf("cluster", "up", "--dir", str(own_cluster.data_dir), "--port-base", str(own_cluster.port_base))
    assert again.returncode == 0, again.stderr
    client = connect(own_cluster.url, config)
    restarted = {f[b"id"].decode() for _, f in cast("Entries", await client.xrange(keys.stream("testing")))}
    assert set(acked) <= restarted
    await client.aclose()


async def _publish_until(client: Redis, config: BusConfig, acked: list[str], stop: asyncio.Event) -> None:
    """Publish in small flushes until `stop`; only what Redis acknowledged counts."""
    pub = Publisher(client, config)
    n = 0
    while not stop.is_set():
        with contextlib.suppress(Exception):  # a failover in progress: this flush is not acknowledged
            acked += await pub.publish_many([ItemCreated(title=f"f{n + k}") for k in range(20)])
        n += 20
        await asyncio.sleep(0.01)


async def _outputs_at_least(client: Redis, n: int) -> bool:
    with contextlib.suppress(Exception):
        return int(await client.xlen(keys.stream(OUT))) >= n
    return False


async def _true(value: bool) -> bool:
    return value


async def _any_output(client: Redis, ids: set[str]) -> bool:
    with contextlib.suppress(Exception):
        return bool(ids & set(await output_causes(client)))
    return False
