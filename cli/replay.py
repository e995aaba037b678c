"""`aiwf dlq replay`: dead letters back onto their source stream, with a confirmation and a report."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.known import letter_hint
from aiwf.cli.letters import (
    AllOpt,
    DryRunOpt,
    ErrorOpt,
    IdsArg,
    IncidentOpt,
    Json,
    LimitOpt,
    SinceOpt,
    StreamOpt,
    TypeOpt,
    YesOpt,
    selection,
)
from aiwf.cli.support import EXIT_USAGE, confirm, emit_json, fail, id_table, load_events, plural, run, usage
from aiwf.dlq import letters as letters_
from aiwf.dlq.errors import UnknownLetter
from aiwf.dlq.filters import Filter, parse_count, parse_rate
from aiwf.dlq.letters import MAX_SELECTION, Letter
from aiwf.dlq.replay import DEFAULT_MAX_REPLAYS, Replayer, Result, Status

#: Replays of more letters than this ask for confirmation (or --yes).
CONFIRM_ABOVE = 10
#: Replays of more letters than this show a progress bar (on stderr).
PROGRESS_ABOVE = 20
#: Result tables list every letter up to this many, then only the ones that were not replayed.
TABLE_ROWS = 100


def replay(
    ids: IdsArg = None,
    all_: AllOpt = False,
    stream: StreamOpt = None,
    type_: TypeOpt = None,
    error: ErrorOpt = None,
    since: SinceOpt = None,
    incident: IncidentOpt = None,
    limit: LimitOpt = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Only this group's letters, delivered to this group only.")
    ] = None,
    dry_run: DryRunOpt = False,
    rate: Annotated[str | None, typer.Option("--rate", help="At most N letters per second, e.g. 50/s.")] = None,
    yes: YesOpt = False,
    max_replays: Annotated[
        int, typer.Option("--max-replays", help="Refuse events already replayed this many times.")
    ] = DEFAULT_MAX_REPLAYS,
    json_: Json = False,
) -> None:
    """Put dead letters back on their source stream with their original event id, upcast to the newest version.

    Each letter leaves the DLQ in the same atomic step that re-publishes it, so an interrupted
    replay can simply be run again. Oldest letters go first; --limit takes the oldest N.
    """
    load_events()
    refs = ids or []
    select_all = all_ or (group is not None and not refs)  # `--group G` alone: all of G's letters
    flt = selection(
        refs, select_all, stream=stream, type_=type_, error=error, group=None, since=since, incident=incident
    )
    if group is not None and not refs:
        flt = replace(flt, group=group)
    count = usage(lambda: parse_count(limit, "--limit", MAX_SELECTION))
    per_second = usage(lambda: parse_rate(rate)) if rate is not None else None
    usage(lambda: parse_count(max_replays, "--max-replays", 1000))
    if group is not None and not group.strip():
        fail("bad --group: give a consumer group name", EXIT_USAGE)

    chosen, already = run(lambda client, _: _choose(client, refs, flt, count))
    if chosen and not dry_run:
        confirm(f"replay {plural(len(chosen), 'dead letter')}", len(chosen) > CONFIRM_ABOVE, yes)
    progress = _progress(json_ or len(chosen) <= PROGRESS_ABOVE)

    async def execute(client: Redis, config: BusConfig) -> list[Result]:
        replayer = Replayer(client, config, group=group, max_replays=max_replays, rate=per_second, dry_run=dry_run)
        task = progress.add_task("replaying", total=len(chosen))
        return await replayer.run(chosen, lambda _: progress.advance(task))

    with progress:
        results = already + (run(execute) if chosen else [])
    _report_replay(results, dry_run=dry_run, group=group, json_=json_)


async def _choose(client: Redis, refs: list[str], flt: Filter, count: int | None) -> tuple[list[Letter], list[Result]]:
    """The letters to replay, and a result for each named one that was replayed before; UnknownLetter
    for a named one that never existed or was purged."""
    found, missing = await letters_.select(client, refs, flt, count)
    done = []
    for ref in missing:
        domain, entry_id = letters_.parse_ref(ref)
        where = await letters_.replayed_as(client, domain, entry_id)
        if where is None:
            hint = await letter_hint(client, ref)
            raise UnknownLetter(
                f"no dead letter {ref} (it may have been purged; see `aiwf dlq ls`); nothing replayed{hint}"
            )
        done.append(Result(ref, "", "", Status.ALREADY_REPLAYED, f"replayed as {where}", where))
    return found, done


def _progress(disable: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=disable,
    )


def _report_replay(results: list[Result], *, dry_run: bool, group: str | None, json_: bool) -> None:
    bad = [r for r in results if not r.ok]
    replayed = sum(1 for r in results if r.status in {Status.REPLAYED, Status.WOULD_REPLAY})
    if json_:
        emit_json(
            {
                "dry_run": dry_run,
                "group": group,
                "selected": len(results),
                "replayed": 0 if dry_run else replayed,
                "would_replay": replayed if dry_run else 0,
                "not_replayed": len(bad),
                "results": [r.as_json() for r in results],
            }
        )
    else:
        shown = results if len(results) <= TABLE_ROWS else bad
        verb = "would replay" if dry_run else "replayed"
        id_table(
            f"{verb} {replayed} of {plural(len(results), 'dead letter')}",
            ["id", "event id", "type", "status", "detail"],
            [(r.ref, r.event_id, escape(r.event_type), r.status.value, escape(r.detail)) for r in shown],
        )
    if bad and not dry_run:
        kinds = ", ".join(
            f"{sum(1 for r in bad if r.status is s)} {s.value}" for s in Status if any(r.status is s for r in bad)
        )
        fail(f"{len(bad)} of {plural(len(results), 'dead letter')} not replayed ({kinds}); see the table")
