"""`aiwf health`: which services are up, from their heartbeats."""

from __future__ import annotations

from typing import cast

import typer
from rich.markup import escape

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


def services(beats: list[dict[str, str]]) -> list[str]:
    """The built-in workers, then every other service with a heartbeat (`aiwf worker module:service`)."""
    return list(dict.fromkeys([*WORKERS, *sorted(b["service"] for b in beats if b.get("service"))]))


def health(as_json: JsonOpt = False) -> None:
    """Which services are up, degraded or offline, and their alarms, from their heartbeats.

    Exit 1 if any service is not running."""

    beats = run(lambda client, _config: heartbeats(client))
    rows = summarize(beats, services(beats))
    if as_json:
        emit_json(rows)
    else:
        columns = ["service", "state", "instances", "processed", "failed", "dead_lettered", "pending", "reason"]
        table = [[*(r[c] for c in columns), escape("\n".join(r["alarms"]))] for r in rows]
        emit_table("services", [*columns, "alarms"], table)
    if any(r["state"] != "running" for r in rows):
        raise typer.Exit(1)
