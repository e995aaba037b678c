"""`aiwf health`: which services are up, from their heartbeats."""

from __future__ import annotations

import typer
from rich.markup import escape

from aiwf.bus.alerts import evaluate, firing_by_service
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
    """Which services are up, degraded or offline, their alarms and firing alerts, from their heartbeats.

    Exit 1 if any service is not running."""

    async def body(client: Redis, config: BusConfig) -> tuple[list[dict[str, str]], dict[str, list[str]]]:
        return await heartbeats(client), firing_by_service(await evaluate(client, config.alerts))

    beats, firing = run(body)
    rows = [{**r, "alerts": firing.get(r["service"], [])} for r in summarize(beats, services(beats))]
    if as_json:
        emit_json(rows)
    else:
        columns = ["service", "state", "instances", "processed", "failed", "dead_lettered", "pending", "reason"]
        table = [[*(r[c] for c in columns), escape("\n".join(r["alarms"])), "\n".join(r["alerts"])] for r in rows]
        emit_table("services", [*columns, "alarms", "alerts"], table)
    if any(r["state"] != "running" for r in rows):
        raise typer.Exit(1)
