"""`aiwf health`: which services are up, from their heartbeats."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.markup import escape

from aiwf.bus import release
from aiwf.bus.alerts import evaluate, firing_by_service
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.health import describe, heartbeats, summarize, totals
from aiwf.cli.support import JsonOpt, emit_json, emit_table, run
from aiwf.workers import known_services as services

__all__ = ["health", "heartbeats", "register", "services"]


def register(app: typer.Typer) -> None:
    """Add `health` to `app`."""
    app.command()(health)


async def _rows(client: Redis, config: BusConfig) -> list[dict[str, Any]]:
    beats = await heartbeats(client)
    names = services(beats)
    firing = firing_by_service(await evaluate(client, config.alerts))
    rows = summarize(beats, names, service_totals=await totals(client, names))
    for row in rows:
        await _with_release(client, row)
    return [{**r, "alerts": firing.get(r["service"], [])} for r in rows]


def health(as_json: JsonOpt = False) -> None:
    """Which services are up, degraded, unresponsive or offline, their alarms and firing alerts (from heartbeats).

    offline: no live instance (a killed worker within 2 heartbeats); unresponsive: alive but
    not beating. Counters are the service's totals, kept across restarts. Exit 1 if any
    service is not running."""

    rows = run(_rows)
    if as_json:
        emit_json(rows)
    else:
        columns = ["service", "state", "instances", "processed", "failed", "dead_lettered", "pending", "reason"]
        table = [
            [
                r["service"],
                describe(r),
                *(r[c] for c in columns[2:]),
                escape("\n".join(r["alarms"])),
                "\n".join(r["alerts"]),
            ]
            for r in rows
        ]
        emit_table("services", [*columns, "alarms", "alerts"], table)
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
