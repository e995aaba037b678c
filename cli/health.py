"""`aiwf health`: which services are up, from their heartbeats."""

from __future__ import annotations

import typer
from rich.markup import escape

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
