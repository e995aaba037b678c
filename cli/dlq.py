"""`aiwf dlq ls | show | replay | purge`: dead letters (replay itself is in cli/replay.py).

Arguments are parsed before Redis is touched (a bad one exits 2); everything else goes
through cli.support.run, so a failure is one `aiwf: ...` line on stderr and exit 1.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.dlq_audit import audit
from aiwf.cli.known import letter_hint
from aiwf.cli.letters import (
    AllOpt,
    DryRunOpt,
    ErrorOpt,
    GroupOpt,
    IdsArg,
    IncidentOpt,
    Json,
    LimitOpt,
    SinceOpt,
    StreamOpt,
    TypeOpt,
    YesOpt,
    error_cell,
    letters_table,
    selection,
    when,
)
from aiwf.cli.replay import replay
from aiwf.cli.support import confirm, console, emit_json, emit_table, id_table, plural, run, usage
from aiwf.dlq import letters as letters_
from aiwf.dlq import purge as purge_
from aiwf.dlq.errors import UnknownLetter
from aiwf.dlq.filters import Filter, parse_count
from aiwf.dlq.letters import MAX_SELECTION, Letter
from aiwf.dlq.show import describe

DEFAULT_LS_LIMIT = 50


def register(app: typer.Typer) -> None:
    """Add `dlq ls|show|replay|purge|audit` to `app`."""
    dlq = typer.Typer(help="Dead letters: list, show, replay, purge, and the audit trail.", no_args_is_help=True)
    dlq.command("ls")(ls)
    dlq.command("show")(show)
    dlq.command("replay")(replay)
    dlq.command("purge")(purge)
    dlq.command("audit")(audit)
    app.add_typer(dlq, name="dlq")


def ls(
    stream: StreamOpt = None,
    type_: TypeOpt = None,
    error: ErrorOpt = None,
    group: GroupOpt = None,
    since: SinceOpt = None,
    limit: LimitOpt = None,
    stats: Annotated[bool, typer.Option("--stats", help="Counts by stream, type, error and group.")] = False,
    ids: Annotated[bool, typer.Option("--ids", help="Only the letter ids, one a line (for scripts).")] = False,
    json_: Json = False,
) -> None:
    """List dead letters, newest first (the newest 50 unless --limit)."""
    flt = usage(lambda: Filter.build(stream=stream, type_=type_, error=error, group=group, since=since))
    count = usage(lambda: parse_count(limit, "--limit", MAX_SELECTION))
    wanted = None if stats else count or DEFAULT_LS_LIMIT
    found = run(lambda client, _: letters_.scan(client, flt, limit=wanted))
    if stats:
        counts = letters_.stats(found)
        if json_:
            emit_json(counts)
            return
        rows = [
            (by.removeprefix("by_"), escape(k), n) for by, c in counts.items() if by != "total" for k, n in c.items()
        ]
        emit_table(plural(counts["total"], "dead letter"), ["by", "value", "count"], rows)
        return
    if json_:
        emit_json([lt.summary() for lt in found])
        return
    if ids:
        for letter in found:
            print(letter.ref)
        return
    id_table(
        f"{plural(len(found), 'dead letter')}, newest first",
        ["id", "stream", "group", "type", "error", "deliveries", "failed at (UTC)"],
        [
            (lt.ref, lt.domain, escape(lt.group), escape(lt.event_type), error_cell(lt), lt.deliveries, when(lt))
            for lt in found
        ],
    )
    if count is None and len(found) == DEFAULT_LS_LIMIT:
        console.print(f"showing the newest {DEFAULT_LS_LIMIT}; use --limit N for more", style="dim")


def show(
    letter_id: Annotated[str, typer.Argument(help="A dead-letter id from `aiwf dlq ls`.")], json_: Json = False
) -> None:
    """Everything about one dead letter: envelope, masked payload, error, traceback, deliveries."""
    usage(lambda: letters_.parse_ref(letter_id))

    async def body(client: Redis, config: BusConfig) -> dict[str, Any]:
        try:
            letter = await letters_.get(client, letter_id)
        except UnknownLetter as exc:
            raise UnknownLetter(f"{exc}{await letter_hint(client, letter_id)}") from None
        replays = await letters_.times_replayed(client, letter.domain, letter.event_id)
        return describe(letter, replays, config.max_event_bytes)

    doc = run(body)
    if json_:
        emit_json(doc)
        return
    facts = [
        (name, escape(str(doc[key])))
        for name, key in (
            ("id", "id"),
            ("stream", "stream"),
            ("source entry", "source_id"),
            ("group", "group"),
            ("consumer", "consumer"),
            ("host", "host"),
            ("deliveries", "deliveries"),
            ("dead-lettered at", "failed_at"),
            ("times replayed", "times_replayed"),
            ("event id", "event_id"),
            ("type", "type"),
            ("error type", "error_type"),
            ("error", "error"),
        )
    ]
    facts += [(f"envelope.{k}", escape(str(v))) for k, v in (doc["envelope"] or {}).items() if k not in {"id", "type"}]
    emit_table(f"dead letter {doc['id']}", ["field", "value"], facts)
    if doc["payload"] is not None:
        console.print("payload (secrets masked):", style="bold")
        console.print_json(data=doc["payload"])
    else:
        console.print(f"body unreadable: {doc['body_error']}", style="bold red", markup=False)
        if doc["raw_body"]:
            console.print(doc["raw_body"], markup=False, highlight=False, soft_wrap=True)
    console.print("traceback:", style="bold")
    console.print(doc["traceback"] or "(none)", markup=False, highlight=False, soft_wrap=True)


def purge(
    ids: IdsArg = None,
    all_: AllOpt = False,
    stream: StreamOpt = None,
    type_: TypeOpt = None,
    error: ErrorOpt = None,
    group: GroupOpt = None,
    since: SinceOpt = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Dead-lettered longer ago than this (7d, 12h).")
    ] = None,
    incident: IncidentOpt = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_: Json = False,
) -> None:
    """Delete dead letters for good (asks first unless --yes; --dry-run lists them)."""
    refs = ids or []
    flt = selection(
        refs,
        all_,
        stream=stream,
        type_=type_,
        error=error,
        group=group,
        since=since,
        older_than=older_than,
        incident=incident,
    )
    count = usage(lambda: parse_count(limit, "--limit", MAX_SELECTION))

    async def choose(client: Redis, _: BusConfig) -> list[Letter]:
        found, missing = await letters_.select(client, refs, flt, count)
        if missing:
            hint = await letter_hint(client, missing[0])
            raise UnknownLetter(f"no dead letter {missing[0]} (see `aiwf dlq ls`); nothing purged{hint}")
        return found

    chosen = run(choose)
    if dry_run or not chosen:
        if json_:
            emit_json({"dry_run": dry_run, "purged": 0, "selected": len(chosen), "ids": [lt.ref for lt in chosen]})
        else:
            verb = "would purge" if dry_run else "nothing to purge:"
            letters_table(f"{verb} {plural(len(chosen), 'dead letter')}", chosen)
        return
    confirm(f"delete {plural(len(chosen), 'dead letter')} for good", True, yes)
    removed = run(lambda client, _: purge_.purge(client, chosen))
    if json_:
        emit_json({"dry_run": False, "purged": removed, "selected": len(chosen), "ids": [lt.ref for lt in chosen]})
    else:
        console.print(f"purged {removed} of {plural(len(chosen), 'selected dead letter')}")
