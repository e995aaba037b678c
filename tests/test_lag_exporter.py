"""`aiwf metrics`: every stream/group's lag and pending from XINFO GROUPS, in Prometheus' text format."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

AIWF = str(Path(sys.executable).parent / "aiwf")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def r(redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return client


def setup_groups(r: redis.Redis) -> None:
    """`aiwf:ev:{testing}`: 10 entries; group `slow` got 3 (unacked), group `idle` none; two dead letters."""
    for n in range(10):
        r.xadd("aiwf:ev:{testing}", {"n": str(n)})
    r.xgroup_create("aiwf:ev:{testing}", "slow", id="0")
    r.xgroup_create("aiwf:ev:{testing}", "idle", id="0")
    r.xreadgroup("slow", "c1", {"aiwf:ev:{testing}": ">"}, count=3)
    for n in range(2):
        r.xadd("aiwf:dlq:{testing}", {"n": str(n)})


def test_metrics_prints_lag_and_pending_of_every_group(r: redis.Redis, redis_url: str) -> None:
    """Lag 7 and pending 3 for the group that read 3 of 10; lag 10, pending 0 for the one that read none."""
    setup_groups(r)
    env = {**os.environ, "REDIS_URL": redis_url}
    result = subprocess.run([AIWF, "metrics"], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    got = samples(result.stdout)
    slow = (("group", "slow"), ("stream", "testing"))
    idle = (("group", "idle"), ("stream", "testing"))
    assert got[("aiwf_stream_group_lag", slow)] == 7
    assert got[("aiwf_stream_group_pending", slow)] == 3
    assert got[("aiwf_stream_group_consumers", slow)] == 1
    assert got[("aiwf_stream_group_lag", idle)] == 10
    assert got[("aiwf_stream_group_pending", idle)] == 0
    assert got[("aiwf_stream_group_lag_capped", idle)] == 0
    assert got[("aiwf_stream_length", (("stream", "testing"),))] == 10
    assert got[("aiwf_stream_dead_letters", (("stream", "testing"),))] == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            return str(reply.read().decode())
    except OSError:
        return None


@pytest.mark.slow
def test_metrics_serve_is_a_scrape_target_that_follows_redis(r: redis.Redis, redis_url: str) -> None:
    """`aiwf metrics --serve PORT --every 0.5`: GET /metrics shows the lag, and the new lag after more entries."""
    setup_groups(r)
    port = _free_port()
    env = {**os.environ, "REDIS_URL": redis_url}
    server = subprocess.Popen(
        [AIWF, "metrics", "--serve", str(port), "--every", "0.5"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        text = None
        while text is None and time.monotonic() < deadline:
            text = _scrape(port)
            time.sleep(0.1)
        assert text is not None, "nothing served"
        slow = ("aiwf_stream_group_lag", (("group", "slow"), ("stream", "testing")))
        assert samples(text)[slow] == 7
        for n in range(5):
            r.xadd("aiwf:ev:{testing}", {"n": f"more-{n}"})
        while time.monotonic() < deadline and samples(_scrape(port) or "")[slow] != 12:
            time.sleep(0.1)
        assert samples(_scrape(port) or "")[slow] == 12
    finally:
        os.killpg(server.pid, signal.SIGINT)
        assert server.wait(10) == 0
