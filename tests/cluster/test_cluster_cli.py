"""The CLI on a Redis Cluster: `aiwf streams` lists each stream once, whichever node holds it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

from aiwf.bus import Publisher, keys
from aiwf.bus.cluster import LocalCluster
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.groups import ensure_group
from aiwf.schemas import Envelope
from tests.events import ItemCreated

AIWF = str(Path(sys.executable).parent / "aiwf")
DOMAINS = ["testing", "elsewhere", "auth", "llm", "documents", "tts", "calendar", "pipeline", "uploads"]


def aiwf(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWF_", "REDIS_URL"))}
    return subprocess.run(
        [AIWF, *args],
        env={**env, "REDIS_URL": url, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_streams_lists_every_stream_once_across_nodes(cclient: Redis, cluster_config: BusConfig) -> None:
    """Streams on every master, each with a group: `aiwf streams --json` names each exactly once, with its length."""
    pub = Publisher(cclient, cluster_config)
    for n, domain in enumerate(DOMAINS):
        env = Envelope.wrap(ItemCreated(title=domain), producer="t")
        for _ in range(n + 1):
            await cclient.xadd(keys.stream(domain), {"id": env.id, "type": env.type, "body": b"{}"})
        await ensure_group(cclient, keys.stream(domain), "g")
    await pub.publish(ItemCreated(title="one more"))
    nodes = {cclient.get_node_from_key(keys.stream(d)).name for d in DOMAINS}  # type: ignore[attr-defined]
    assert len(nodes) == 3  # the streams really are spread over the three masters
    done = aiwf(cluster_config.redis_url or "", "streams", "--json")
    assert done.returncode == 0, done.stderr
    rows = orjson.loads(done.stdout)
    names = [r["stream"] for r in rows]
    assert sorted(names) == sorted(DOMAINS)
    lengths = {r["stream"]: r["length"] for r in rows}
    assert lengths == {d: n + 1 + (d == "testing") for n, d in enumerate(DOMAINS)}


async def test_health_and_dlq_ls_answer_on_a_cluster(cclient: Redis, cluster_config: BusConfig) -> None:
    """`aiwf health --json` lists the services (offline here: exit 1) and `aiwf dlq ls --json` reads every node."""
    health = aiwf(cluster_config.redis_url or "", "health", "--json")
    assert health.stderr == ""
    assert {r["service"] for r in orjson.loads(health.stdout)} >= {"auth", "llm", "tts"}
    letters = aiwf(cluster_config.redis_url or "", "dlq", "ls", "--json")
    assert letters.returncode == 0, letters.stderr
    assert orjson.loads(letters.stdout) is not None


async def test_groups_and_pending_read_the_streams_own_node(cclient: Redis, cluster_config: BusConfig) -> None:
    """`aiwf groups` and `aiwf pending` on a Cluster: the group, its consumer and its pending entries."""
    stream = keys.stream("elsewhere")
    await ensure_group(cclient, stream, "g")
    for i in range(3):
        await cclient.xadd(stream, {"id": f"e{i}", "type": "elsewhere.item.counted", "body": b"{}"})
    await cclient.xreadgroup("g", "reader", {stream: ">"}, count=2)
    url = cluster_config.redis_url or ""
    groups = aiwf(url, "groups", "elsewhere", "--json")
    assert groups.returncode == 0, groups.stderr
    (group,) = orjson.loads(groups.stdout)["group_details"]
    assert (group["name"], group["pending"]) == ("g", 2)
    held = aiwf(url, "pending", "elsewhere", "g", "--json")
    assert held.returncode == 0, held.stderr
    reply = orjson.loads(held.stdout)
    assert reply["pending"] == 2
    assert {e["consumer"] for e in reply["entries"]} == {"reader"}


def test_cluster_up_refuses_busy_ports_and_bad_bases(local_cluster: LocalCluster, tmp_path: Path) -> None:
    """`aiwf cluster up` on ports in use is one `aiwf:` line, exit 1; a base out of range is a usage error."""
    busy = aiwf("", "cluster", "up", "--dir", str(tmp_path / "c"), "--port-base", str(local_cluster.port_base))
    assert busy.returncode == 1
    assert busy.stderr.startswith("aiwf: ports ")
    assert "in use" in busy.stderr
    assert busy.stderr.count("\n") == 1
    bad = aiwf("", "cluster", "up", "--dir", str(tmp_path / "c"), "--port-base", "80")
    assert bad.returncode == 2
    assert bad.stderr.startswith("aiwf: bad --port-base 80")
    down = aiwf("", "cluster", "down", "--dir", str(tmp_path / "nothing"), "--json")
    assert down.returncode == 0
    assert orjson.loads(down.stdout)["stopped"] == 0
