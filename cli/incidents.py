"""`aiwf incidents [--json]` and `aiwf incidents show ID`: dead letters as distinct failures."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from aiwf.bus.alerts import Alert, evaluate
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.support import JsonOpt, console, emit_json, id_table, plural, run, usage
from aiwf.dlq import incidents as incidents_
from aiwf.dlq import letters as letters_
from aiwf.dlq.incidents import Incident
from aiwf.dlq.report import alert_markdown, markdown

FRAME_CHARS = 60


def register(app: typer.Typer) -> None:
    """Add `incidents` and `incidents show` to `app`."""
    group = typer.Typer(
        help="Incidents: one row per distinct failure (dead letters by fingerprint) and per firing alert."
    )
    group.callback(invoke_without_command=True)(incidents)
    group.command("show")(show)
    app.add_typer(group, name="incidents")


def incidents(ctx: typer.Context, json_: JsonOpt = False) -> None:
    """One row per distinct failure (service, event type, error type, failing frame), most recent first,
    then one per firing alert.

    A dead letter whose fingerprint is known counts towards that incident; replaying or
    purging an incident's letters (`aiwf dlq replay|purge --incident ID`) resolves it.
    """
    if ctx.invoked_subcommand is not None:
        return

    async def body(client: Redis, config: BusConfig) -> tuple[list[Incident], list[Alert]]:
        return await incidents_.open_incidents(client), _firing(await evaluate(client, config.alerts))

    found, firing = run(body)
    if json_:
        emit_json([incidents_.alert_summary(a) for a in firing] + [inc.summary() for inc in found])
        return
    id_table(
        f"{plural(len(found), 'open incident')}, most recent first",
        ["id", "service", "error type", "failing frame", "count", "first seen", "last seen", "event types", "sample"],
        [
            (
                inc.id,
                escape(inc.fingerprint.service),
                escape(inc.fingerprint.error_type),
                escape(_cut(inc.fingerprint.frame)),
                inc.count,
                inc.first.failed_at[:19],
                inc.sample.failed_at[:19],
                escape(", ".join(inc.event_types)),
                inc.sample.ref,
            )
            for inc in found
        ],
    )
    if firing:
        id_table(
            f"{plural(len(firing), 'firing alert')} (each one incident)",
            ["id", "alert", "service", "severity", "since", "why"],
            [
                (row["id"], row["error_type"], escape(a.service), a.severity, row["first_seen"][:19], escape(a.why))
                for a in firing
                for row in (incidents_.alert_summary(a),)
            ],
        )


def show(
    incident_id: Annotated[str, typer.Argument(help="An incident id from `aiwf incidents`.")],
    json_: JsonOpt = False,
) -> None:
    """The incident's bug report in Markdown: what failed, how often, since when, the sample, how to replay."""
    usage(lambda: incidents_.check_id(incident_id))

    async def body(client: Redis, config: BusConfig) -> tuple[dict[str, object], str]:
        for alert in _firing(await evaluate(client, config.alerts)):
            if incidents_.alert_id(alert) == incident_id:
                return incidents_.alert_summary(alert), alert_markdown(alert, incident_id)
        incident = await incidents_.get(client, incident_id)
        replays = await letters_.times_replayed(client, incident.sample.domain, incident.sample.event_id)
        return incident.summary(), markdown(incident, replays, config.max_event_bytes)

    summary, report = run(body)
    if json_:
        emit_json({**summary, "report": report})
    else:
        console.print(report, markup=False, highlight=False, soft_wrap=True)


def _firing(alerts: list[Alert]) -> list[Alert]:
    return [a for a in alerts if a.firing]


def _cut(text: str) -> str:
    return text if len(text) <= FRAME_CHARS else text[: FRAME_CHARS - 1] + "…"
