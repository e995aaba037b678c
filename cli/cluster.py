"""`aiwf cluster up | down`: a local 3-master, 3-replica Redis Cluster on loopback (bus/cluster.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiwf.bus.cluster import DEFAULT_PORT_BASE, NODES, REPLICAS, LocalCluster
from aiwf.bus.errors import AiwfError
from aiwf.cli.support import EXIT_USAGE, emit_json, fail, load_config

app = typer.Typer(no_args_is_help=True, help="A local Redis Cluster (3 masters, 3 replicas, AOF on) on loopback.")
DirOpt = Annotated[
    Path | None, typer.Option("--dir", help="Where the nodes keep their data; default <AIWF_DATA_DIR>/cluster.")
]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def register(root: typer.Typer) -> None:
    """Add `cluster up` and `cluster down` to `root`."""
    root.add_typer(app, name="cluster")


def _dir(folder: Path | None) -> Path:
    return folder if folder is not None else load_config().data_dir / "cluster"


@app.command("up")
def up(
    folder: DirOpt = None,
    port_base: Annotated[
        int, typer.Option("--port-base", help="Ports BASE..BASE+5 (and BASE+10000.. for the cluster bus).")
    ] = DEFAULT_PORT_BASE,
    json_: Json = False,
) -> None:
    """Start six redis-server nodes, join them with `redis-cli --cluster create`, print the REDIS_URL to use."""
    if not 1024 <= port_base <= 65535 - 10000 - NODES * (1 + REPLICAS):
        fail(f"bad --port-base {port_base}: give 1024..{65535 - 10006}", EXIT_USAGE)
    cluster = LocalCluster(_dir(folder), port_base)
    if cluster.pids():
        fail(f"a cluster is already running under {cluster.data_dir} (pids {sorted(cluster.pids().values())})")
    try:
        cluster.start()
    except AiwfError as exc:
        fail(str(exc))
    if json_:
        emit_json({"url": cluster.url, "dir": str(cluster.data_dir), "ports": cluster.ports, "pids": cluster.pids()})
        return
    typer.echo(cluster.url)


@app.command("down")
def down(folder: DirOpt = None, json_: Json = False) -> None:
    """Stop every node started under --dir (SIGTERM, so each flushes its AOF); the data stays."""
    cluster = LocalCluster(_dir(folder))
    stopped = cluster.stop()
    if json_:
        emit_json({"dir": str(cluster.data_dir), "stopped": stopped})
        return
    typer.echo(f"stopped {stopped} nodes under {cluster.data_dir}")
