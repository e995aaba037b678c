"""`aiwf alerts [--watch] [--json]`: alerts.yml's thresholds evaluated from the live state in Redis."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from aiwf.bus.alerts import Alert, evaluate
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.support import JsonOpt, age, console, emit_json, emit_table, run

WATCH_EVERY_S = 2.0


def register(app: typer.Typer) -> None:
    """Add `alerts` to `app`."""
    app.command()(alerts)


def alerts(
    json_: JsonOpt = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep evaluating; print a line each time an alert fires or resolves.")
    ] = False,
    every: Annotated[float, typer.Option("--every", min=0.2, help="Seconds between evaluations with --watch.")] = (
        WATCH_EVERY_S
    ),
) -> None:
    """What fires now (and what is pending its duration), since when and why, from heartbeats: no Prometheus.

    The thresholds of deploy/prometheus/alerts.yml; windows from AIWF_ALERT_WINDOW, AIWF_ALERT_FOR and
    AIWF_ALERT_OFFLINE_AFTER.
    """
    if not watch:
        found = run(lambda client, config: evaluate(client, config.alerts))
        if json_:
            emit_json([a.as_json() for a in found])
        else:
            _table(found)
        return
    try:
        run(lambda client, config: _watch(client, config, every, json_))
    except KeyboardInterrupt:  # Ctrl-C is how a watch ends
        raise typer.Exit(0) from None


async def _watch(client: Redis, config: BusConfig, every: float, json_: bool) -> None:
    firing: dict[str, Alert] = {}
    while True:
        now = {a.id: a for a in await evaluate(client, config.alerts) if a.firing}
        for aid, alert in now.items():
            if aid not in firing:
                _change("firing", alert, json_)
        for aid, alert in firing.items():
            if aid not in now:
                _change("resolved", alert, json_)
        firing = now
        await asyncio.sleep(every)


def _change(what: str, alert: Alert, json_: bool) -> None:
    if json_:
        emit_json({"event": what, "at": time.time(), **alert.as_json()})
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    line = f"{stamp} {what.upper()} {alert.id} [{alert.severity}] since {_when(alert.since)}: {alert.why}"
    console.print(escape(line), highlight=False, soft_wrap=True)


def _table(found: list[Alert]) -> None:
    now = time.time()
    rows = [
        (
            "firing" if a.firing else "pending",
            a.name,
            escape(a.service),
            escape(a.instance),
            a.severity,
            f"{_when(a.since)} ({age(int((now - a.since) * 1000))} ago)",
            escape(a.why),
        )
        for a in found
    ]
    firing = sum(1 for a in found if a.firing)
    emit_table(
        f"{firing} firing, {len(found) - firing} pending",
        ["state", "alert", "service", "instance", "severity", "since (UTC)", "why"],
        rows,
    )


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
