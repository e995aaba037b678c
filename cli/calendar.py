"""`aiwf calendar agenda|syncs`: what is on a calendar in a window, and how its recent syncs ended.

aiwf calendar agenda CALENDAR --from ISO --to ISO [--json]
aiwf calendar syncs CALENDAR [--limit N] [--json]     counts, and each VEVENT skipped or flagged
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Annotated

import typer

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.known import require_calendar
from aiwf.cli.support import emit_json, emit_table, fail, run
from aiwf.workers.calendar.agenda import MAX_LIMIT, AgendaItem, agenda
from aiwf.workers.calendar.errors import CalendarError
from aiwf.workers.calendar.history import SyncOutcome, recent_syncs

__all__ = ["parse_instant", "register"]


def parse_instant(text: str, option: str) -> dt.datetime:
    """An ISO date or date-time; a date is its midnight UTC and a time without offset is UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        fail(
            f"{option} must be an ISO 8601 date or date-time (e.g. 2025-03-01 or 2025-03-01T09:00+01:00), "
            f"got {text[:80]!r}",
            2,
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def register(app: typer.Typer) -> None:
    """Add the `calendar` command group to `app`."""
    calendar_app = typer.Typer(no_args_is_help=True, help="Calendars synced by the calendar service.")
    app.add_typer(calendar_app, name="calendar")

    @calendar_app.command("agenda")
    def agenda_command(
        calendar_id: Annotated[str, typer.Argument(metavar="CALENDAR", help="The calendar_id it was synced as.")],
        start: Annotated[str, typer.Option("--from", help="Window start: ISO date or date-time (UTC if no offset).")],
        end: Annotated[str, typer.Option("--to", help="Window end, exclusive.")],
        limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_LIMIT, help="Most occurrences shown.")] = 1000,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
    ) -> None:
        """Occurrences overlapping [--from, --to), by start time, from the agenda projection.

        An unknown calendar is an error naming the closest known ones."""
        lo, hi = parse_instant(start, "--from"), parse_instant(end, "--to")

        async def body(client: Redis, config: BusConfig) -> list[AgendaItem]:
            await require_calendar(client, calendar_id, config.max_event_bytes)
            try:
                return await agenda(client, calendar_id, lo, hi, limit=limit)
            except CalendarError as exc:
                fail(str(exc), 2)

        items = run(body)
        if as_json:
            emit_json([dataclasses.asdict(i) for i in items])
            return
        emit_table(
            f"{calendar_id}: {lo.isoformat()} .. {hi.isoformat()} ({len(items)})",
            ["start (UTC)", "end (UTC)", "summary", "where", "zone", "uid"],
            [
                [i.start if not i.all_day else f"{i.local_start} (all day)", i.end, i.summary, i.location, i.tz, i.uid]
                for i in items
            ],
        )

    @calendar_app.command("syncs")
    def syncs_command(
        calendar_id: Annotated[str, typer.Argument(metavar="CALENDAR", help="The calendar_id it was synced as.")],
        limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="Most syncs shown, newest first.")] = 5,
        as_json: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
    ) -> None:
        """How the calendar's recent syncs ended, with every VEVENT they skipped or flagged and why."""

        async def body(client: Redis, config: BusConfig) -> list[SyncOutcome]:
            await require_calendar(client, calendar_id, config.max_event_bytes)
            return await recent_syncs(client, config, calendar_id, limit=limit)

        outcomes = run(body)
        if as_json:
            emit_json([dataclasses.asdict(o) for o in outcomes])
            return
        show_syncs(calendar_id, outcomes)


def show_syncs(calendar_id: str, outcomes: list[SyncOutcome]) -> None:
    """One table of syncs, then one of the events they left out or flagged."""
    emit_table(
        f"{calendar_id}: last {len(outcomes)} syncs",
        ["at", "outcome", "added", "updated", "removed", "occurrences", "skipped", "flagged", "reason"],
        [
            [o.at, o.outcome, o.added, o.updated, o.removed, o.occurrences, o.skipped_count, o.flagged_count, o.reason]
            for o in outcomes
        ],
    )
    notes = [(o, "skipped", n) for o in outcomes for n in o.skipped] + [
        (o, "flagged", n) for o in outcomes for n in o.flagged
    ]
    if notes:
        emit_table(
            "events skipped or flagged",
            ["at", "", "uid", "reason"],
            [[o.at, kind, n["uid"], n["reason"]] for o, kind, n in notes],
        )
