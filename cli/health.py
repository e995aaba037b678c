"""`aiwf health`: which services are up, from their heartbeats."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.markup import escape

from aiwf.bus import release
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.health import heartbeats, summarize
from aiwf.cli.support import JsonOpt, emit_json, emit_table, run
from aiwf.workers import known_services as services

__all__ = ["health", "heartbeats", "register", "services"]


def register(app: typer.Typer) -> None:
    """Add `health` to `app`."""
    app.command()(health)


def health(as_json: JsonOpt = False) -> None:
    """Which services are up, degraded or offline, and their alarms, from their heartbeats.

    Exit 1 if any service is not running."""

    async def body(client: Redis, _config: BusConfig) -> list[dict[str, Any]]:
        beats = await heartbeats(client)
        rows = summarize(beats, services(beats))
        for row in rows:
            await _with_release(client, row)
        return rows

    rows = run(body)
    if as_json:
        emit_json(rows)
    else:
        columns = ["service", "state", "instances", "processed", "failed", "dead_lettered", "pending", "reason"]
        table = [[*(r[c] for c in columns), escape("\n".join(r["alarms"]))] for r in rows]
        emit_table("services", [*columns, "alarms"], table)
    if any(r["state"] != "running" for r in rows):
        raise typer.Exit(1)


async def _with_release(client: Redis, row: dict[str, Any]) -> None:
    """The service's active release, and an alarm line when it fell back by itself."""
    state = await release.read_state(client, row["service"])
    row["release"] = state.active
    if state.fell_back_from:
        at = time.strftime("%H:%M:%S", time.localtime(state.fell_back_at))
        line = f"release {state.fell_back_from} fell back to {state.active} at {at}: {state.fell_back_reason}"
        row["alarms"] = [line, *row["alarms"]]
