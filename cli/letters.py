"""What the dead-letter commands share: their options, how a selection is checked, how a letter is shown."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.markup import escape

from aiwf.cli.support import EXIT_USAGE, fail, id_table, usage
from aiwf.dlq import letters as letters_
from aiwf.dlq.filters import Filter
from aiwf.dlq.letters import Letter

ERROR_CHARS = 80

Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
StreamOpt = Annotated[str | None, typer.Option("--stream", help="Source stream: a domain (documents) or its key.")]
TypeOpt = Annotated[str | None, typer.Option("--type", help="Event type; globs allowed (documents.*).")]
ErrorOpt = Annotated[str | None, typer.Option("--error", help="Text in the error type or message (any case).")]
GroupOpt = Annotated[str | None, typer.Option("--group", help="Consumer group that dead-lettered it.")]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Dead-lettered since: a duration (2h, 7d) or an ISO time (local).")
]
IncidentOpt = Annotated[
    str | None, typer.Option("--incident", help="Only the letters of this incident (an id from `aiwf incidents`).")
]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="At most this many letters.")]
IdsArg = Annotated[list[str] | None, typer.Argument(help="Dead-letter ids as `aiwf dlq ls` shows them.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every letter passing the filters (all of them without filters).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
StreamArg = Annotated[str, typer.Argument(help="A domain (documents) or a full stream key.")]
GroupArg = Annotated[str, typer.Argument(help="Consumer group name.")]


def selection(refs: list[str], all_: bool, **options: str | None) -> Filter:
    """The filter of a replay or purge, refusing an empty or contradictory selection."""
    flt = usage(lambda: Filter.build(**options))  # type: ignore[arg-type]
    for ref in refs:
        usage(lambda ref=ref: letters_.parse_ref(ref))  # type: ignore[misc]
    if refs and (all_ or not flt.is_empty):
        fail("give dead-letter ids, or filters / --all, not both", EXIT_USAGE)
    if not refs and not all_ and flt.is_empty and options.get("group") is None:
        fail("say which letters: give ids, filters (--stream, --type, --error, --since, ...), or --all", EXIT_USAGE)
    return flt


def letters_table(title: str, found: list[Letter]) -> None:
    id_table(
        title,
        ["id", "group", "type", "error", "failed at (UTC)"],
        [(lt.ref, escape(lt.group), escape(lt.event_type), error_cell(lt), when(lt)) for lt in found],
    )


def error_cell(letter: Letter) -> str:
    text = f"{letter.error_type}: {letter.summary()['error']}"
    return escape(text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…")


def when(letter: Letter) -> str:
    """When it was dead-lettered, to the second, in UTC: `2024-05-01 10:00:00`."""
    return datetime.fromtimestamp(letter.failed_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
