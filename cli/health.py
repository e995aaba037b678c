"""`aiwf health`: which services are up, from their heartbeats."""

from __future__ import annotations

from typing import cast

import typer

from aiwf.bus import keys
from aiwf.bus.connection import Redis
from aiwf.bus.health import summarize
from aiwf.cli.support import JsonOpt, emit_json, emit_table, run
from aiwf.workers import WORKERS


def register(app: typer.Typer) -> None:
    """Add `health` to `app`."""
    app.command()(health)


async def heartbeats(client: Redis) -> list[dict[str, str]]:
    """Every live worker's heartbeat, by service."""
    rows = []
    async for key in client.scan_iter(match=keys.HEARTBEAT_PATTERN, count=200):
        beat = cast("dict[bytes, bytes]", await client.hgetall(key))
        rows.append({k.decode(): v.decode() for k, v in beat.items()})
    return sorted(rows, key=lambda r: r.get("service", ""))


def health(as_json: JsonOpt = False) -> None:
    """Which services are up, degraded or offline, from their heartbeats. Exit 1 if any is not running."""

    rows = summarize(run(lambda client, _config: heartbeats(client)), WORKERS)
    if as_json:
        emit_json(rows)
    else:
        columns = ["service", "state", "instances", "processed", "failed", "dead_lettered", "pending", "reason"]
        emit_table("services", columns, [[r[c] for c in columns] for r in rows])
    if any(r["state"] != "running" for r in rows):
        raise typer.Exit(1)
