"""The `aiwf` commands for dead letters and stream inspection; `register(app)` adds them.

    aiwf dlq ls | show | replay | purge          dead letters
    aiwf streams | groups | pending | reclaim    streams and consumer groups

Arguments are parsed before Redis is touched (a bad one exits 2); everything else goes
through bus.cli_support.run, so a failure is one `aiwf: ...` line on stderr and exit 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from aiwf.bus.cli_support import EXIT_FAILURE, EXIT_USAGE, console, emit_json, emit_table, fail, run
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.dlq import inspect as inspect_
from aiwf.dlq import letters as letters_
from aiwf.dlq import purge as purge_
from aiwf.dlq.errors import BadArgument, UnknownLetter
from aiwf.dlq.filters import Filter, parse_count, parse_rate, stream_key
from aiwf.dlq.letters import MAX_SELECTION, Letter
from aiwf.dlq.replay import DEFAULT_MAX_REPLAYS, Replayer, Result, Status
from aiwf.dlq.show import describe

T = TypeVar("T")
#: Replays of more letters than this ask for confirmation (or --yes).
CONFIRM_ABOVE = 10
#: Replays of more letters than this show a progress bar (on stderr).
PROGRESS_ABOVE = 20
#: Result tables list every letter up to this many, then only the ones that were not replayed.
TABLE_ROWS = 100
DEFAULT_LS_LIMIT = 50
ERROR_CHARS = 80

Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
StreamOpt = Annotated[str | None, typer.Option("--stream", help="Source stream: a domain (documents) or its key.")]
TypeOpt = Annotated[str | None, typer.Option("--type", help="Event type; globs allowed (documents.*).")]
ErrorOpt = Annotated[str | None, typer.Option("--error", help="Text in the error type or message (any case).")]
GroupOpt = Annotated[str | None, typer.Option("--group", help="Consumer group that dead-lettered it.")]
SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Dead-lettered since: a duration (2h, 7d) or an ISO time (local).")
]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="At most this many letters.")]
IdsArg = Annotated[list[str] | None, typer.Argument(help="Dead-letter ids as `aiwf dlq ls` shows them.")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every letter passing the filters (all of them without filters).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Show what would happen; change nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
StreamArg = Annotated[str, typer.Argument(help="A domain (documents) or a full stream key.")]
GroupArg = Annotated[str, typer.Argument(help="Consumer group name.")]


def register(app: typer.Typer) -> None:
    """Add `dlq ls|show|replay|purge`, `streams`, `groups`, `pending` and `reclaim` to `app`."""
    dlq = typer.Typer(help="Dead letters: list, show, replay, purge.", no_args_is_help=True)
    dlq.command("ls")(ls)
    dlq.command("show")(show)
    dlq.command("replay")(replay)
    dlq.command("purge")(purge)
    app.add_typer(dlq, name="dlq")
    app.command("streams")(streams)
    app.command("groups")(groups)
    app.command("pending")(pending)
    app.command("reclaim")(reclaim)


# -- dlq ---------------------------------------------------------------------------------------


def ls(
    stream: StreamOpt = None,
    type_: TypeOpt = None,
    error: ErrorOpt = None,
    group: GroupOpt = None,
    since: SinceOpt = None,
    limit: LimitOpt = None,
    stats: Annotated[bool, typer.Option("--stats", help="Counts by stream, type, error and group.")] = False,
    json_: Json = False,
) -> None:
    """List dead letters, newest first (the newest 50 unless --limit)."""
    flt = _usage(lambda: Filter.build(stream=stream, type_=type_, error=error, group=group, since=since))
    count = _usage(lambda: parse_count(limit, "--limit", MAX_SELECTION))
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
        emit_table(f"{counts['total']} dead letters", ["by", "value", "count"], rows)
        return
    if json_:
        emit_json([lt.summary() for lt in found])
        return
    _table(
        f"{len(found)} dead letters, newest first",
        ["id", "stream", "group", "type", "error", "deliveries", "failed at (UTC)"],
        [
            (lt.ref, lt.domain, escape(lt.group), escape(lt.event_type), _error(lt), lt.deliveries, _when(lt))
            for lt in found
        ],
    )
    if count is None and len(found) == DEFAULT_LS_LIMIT:
        console.print(f"showing the newest {DEFAULT_LS_LIMIT}; use --limit N for more", style="dim")


def show(
    letter_id: Annotated[str, typer.Argument(help="A dead-letter id from `aiwf dlq ls`.")], json_: Json = False
) -> None:
    """Everything about one dead letter: envelope, masked payload, error, traceback, deliveries."""
    _usage(lambda: letters_.parse_ref(letter_id))

    async def body(client: Redis, config: BusConfig) -> dict[str, Any]:
        letter = await letters_.get(client, letter_id)
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


def replay(
    ids: IdsArg = None,
    all_: AllOpt = False,
    stream: StreamOpt = None,
    type_: TypeOpt = None,
    error: ErrorOpt = None,
    since: SinceOpt = None,
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
    _load_event_models()
    refs = ids or []
    select_all = all_ or (group is not None and not refs)  # `--group G` alone: all of G's letters
    flt = _selection(refs, select_all, stream=stream, type_=type_, error=error, group=None, since=since)
    if group is not None and not refs:
        flt = replace(flt, group=group)
    count = _usage(lambda: parse_count(limit, "--limit", MAX_SELECTION))
    per_second = _usage(lambda: parse_rate(rate)) if rate is not None else None
    _usage(lambda: parse_count(max_replays, "--max-replays", 1000))
    if group is not None and not group.strip():
        fail("bad --group: give a consumer group name", EXIT_USAGE)

    async def choose(client: Redis, _: BusConfig) -> tuple[list[Letter], list[Result]]:
        found, missing = await letters_.select(client, refs, flt, count)
        done = []
        for ref in missing:
            domain, entry_id = letters_.parse_ref(ref)
            where = await letters_.replayed_as(client, domain, entry_id)
            if where is None:
                raise UnknownLetter(
                    f"no dead letter {ref} (it may have been purged; see `aiwf dlq ls`); nothing replayed"
                )
            done.append(Result(ref, "", "", Status.ALREADY_REPLAYED, f"replayed as {where}", where))
        return found, done

    chosen, already = run(choose)
    if chosen and not dry_run:
        _confirm(f"replay {len(chosen)} dead letters", len(chosen) > CONFIRM_ABOVE, yes)
    progress = _progress(json_ or len(chosen) <= PROGRESS_ABOVE)

    async def execute(client: Redis, config: BusConfig) -> list[Result]:
        replayer = Replayer(client, config, group=group, max_replays=max_replays, rate=per_second, dry_run=dry_run)
        task = progress.add_task("replaying", total=len(chosen))
        return await replayer.run(chosen, lambda _: progress.advance(task))

    with progress:
        results = already + (run(execute) if chosen else [])
    _report_replay(results, dry_run=dry_run, group=group, json_=json_)


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
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_: Json = False,
) -> None:
    """Delete dead letters for good (asks first unless --yes; --dry-run lists them)."""
    refs = ids or []
    flt = _selection(
        refs, all_, stream=stream, type_=type_, error=error, group=group, since=since, older_than=older_than
    )
    count = _usage(lambda: parse_count(limit, "--limit", MAX_SELECTION))

    async def choose(client: Redis, _: BusConfig) -> list[Letter]:
        found, missing = await letters_.select(client, refs, flt, count)
        if missing:
            raise UnknownLetter(f"no dead letter {missing[0]} (see `aiwf dlq ls`); nothing purged")
        return found

    chosen = run(choose)
    if dry_run or not chosen:
        if json_:
            emit_json({"dry_run": dry_run, "purged": 0, "selected": len(chosen), "ids": [lt.ref for lt in chosen]})
        else:
            _letters_table(f"{'would purge' if dry_run else 'nothing to purge:'} {len(chosen)} dead letters", chosen)
        return
    _confirm(f"delete {len(chosen)} dead letters for good", True, yes)
    removed = run(lambda client, _: purge_.purge(client, chosen))
    if json_:
        emit_json({"dry_run": False, "purged": removed, "selected": len(chosen), "ids": [lt.ref for lt in chosen]})
    else:
        console.print(f"purged {removed} of {len(chosen)} selected dead letters")


# -- streams and groups ------------------------------------------------------------------------


def streams(json_: Json = False) -> None:
    """Every event stream: length, groups, consumers, pending, worst lag, dead letters, last entry age."""
    found = run(lambda client, _: inspect_.streams(client))
    if json_:
        emit_json([s.as_json() for s in found])
        return
    emit_table(
        f"{len(found)} streams",
        ["stream", "length", "groups", "consumers", "pending", "lag", "dead letters", "last entry"],
        [
            (
                escape(s.domain),
                s.length,
                len(s.groups),
                sum(g.consumer_count for g in s.groups),
                sum(g.pending for g in s.groups),
                s.lag,
                s.dead_letters,
                _age(s.idle_ms),
            )
            for s in found
        ],
    )


def groups(stream: StreamArg, json_: Json = False) -> None:
    """One stream's consumer groups and their consumers: idle time, pending, lag."""
    key = _usage(lambda: stream_key(stream))
    info = run(lambda client, _: inspect_.describe(client, key))
    if json_:
        emit_json({**info.as_json(), "group_details": [g.as_json() for g in info.groups]})
        return
    emit_table(
        f"{escape(key)}: {info.length} entries, {info.dead_letters} dead letters",
        ["group", "consumers", "pending", "lag", "last delivered", "idle"],
        [
            (escape(g.name), g.consumer_count, g.pending, g.lag, g.last_delivered_id, _age(g.idle_ms))
            for g in info.groups
        ],
    )
    rows = [(escape(g.name), escape(c.name), c.pending, _age(c.idle_ms)) for g in info.groups for c in g.consumers]
    if rows:
        emit_table("consumers", ["group", "consumer", "pending", "idle"], rows)


def pending(
    stream: StreamArg,
    group: GroupArg,
    limit: Annotated[int, typer.Option("--limit", help="Show the oldest N pending entries.")] = 100,
    json_: Json = False,
) -> None:
    """A group's pending entries (delivered, not acknowledged): owner, idle time, delivery count."""
    key = _usage(lambda: stream_key(stream))
    _usage(lambda: parse_count(limit, "--limit", 10_000))
    total, rows = run(lambda client, _: inspect_.pending(client, key, group, limit))
    if json_:
        emit_json({"stream": key, "group": group, "pending": total, "entries": [r.as_json() for r in rows]})
        return
    _table(
        f"{escape(group)} on {escape(key)}: {total} pending"
        + (f" (oldest {len(rows)} shown)" if total > len(rows) else ""),
        ["entry", "consumer", "idle", "deliveries", "event id", "type"],
        [
            (r.entry_id, escape(r.consumer), _age(r.idle_ms), r.deliveries, escape(r.event_id), escape(r.event_type))
            for r in rows
        ],
    )


def reclaim(
    stream: StreamArg,
    group: GroupArg,
    min_idle_ms: Annotated[
        int, typer.Option("--min-idle-ms", help="Only entries idle at least this long (ms).")
    ] = 60_000,
    consumer: Annotated[str, typer.Option("--consumer", help="Claim to this consumer name.")] = "aiwf-reclaim",
    limit: Annotated[int, typer.Option("--limit", help="At most this many entries.")] = 1000,
    json_: Json = False,
) -> None:
    """Force-claim a group's idle pending entries to one consumer (no delivery is counted)."""
    key = _usage(lambda: stream_key(stream))
    _usage(lambda: parse_count(limit, "--limit", 10_000))
    if min_idle_ms < 0:
        fail(f"bad --min-idle-ms {min_idle_ms}: must be >= 0", EXIT_USAGE)
    if not consumer.strip() or len(consumer) > 200:
        fail("bad --consumer: give a name of 1..200 characters", EXIT_USAGE)
    rows = run(lambda client, _: inspect_.reclaim(client, key, group, consumer, min_idle_ms, limit))
    if json_:
        emit_json({"stream": key, "group": group, "consumer": consumer, "claimed": [r.as_json() for r in rows]})
        return
    _table(
        f"claimed {len(rows)} entries to {escape(consumer)}",
        ["entry", "from consumer", "idle", "deliveries"],
        [(r.entry_id, escape(r.consumer), _age(r.idle_ms), r.deliveries) for r in rows],
    )


# -- helpers -----------------------------------------------------------------------------------


def _usage(parse: Callable[[], T]) -> T:
    """Run an argument parser; a BadArgument is a usage error (exit 2)."""
    try:
        return parse()
    except BadArgument as exc:
        fail(str(exc), EXIT_USAGE)


def _selection(refs: list[str], all_: bool, **options: str | None) -> Filter:
    """The filter of a replay or purge, refusing an empty or contradictory selection."""
    flt = _usage(lambda: Filter.build(**options))  # type: ignore[arg-type]
    for ref in refs:
        _usage(lambda ref=ref: letters_.parse_ref(ref))  # type: ignore[misc]
    if refs and (all_ or not flt.is_empty):
        fail("give dead-letter ids, or filters / --all, not both", EXIT_USAGE)
    if not refs and not all_ and flt.is_empty and options.get("group") is None:
        fail("say which letters: give ids, filters (--stream, --type, --error, --since, ...), or --all", EXIT_USAGE)
    return flt


def _load_event_models() -> None:
    """Register every domain's models: a replay upcasts and validates each letter against them."""
    import aiwf.schemas.events  # noqa: F401, PLC0415 - imported for its registrations, only by commands that need them


def _interactive() -> bool:
    """True when there is a person at stdin to answer a question."""
    return sys.stdin.isatty()


def _confirm(action: str, needed: bool, yes: bool) -> None:
    """Ask before `action` when needed; without a terminal, demand --yes."""
    if not needed or yes:
        return
    if not _interactive():
        fail(f"about to {action}: confirm with --yes (no terminal to ask on)", EXIT_FAILURE)
    if not typer.confirm(f"{action.capitalize()}?", default=False):
        fail("cancelled; nothing changed", EXIT_FAILURE)


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
        _table(
            f"{verb} {replayed} of {len(results)} dead letters",
            ["id", "event id", "type", "status", "detail"],
            [(r.ref, r.event_id, escape(r.event_type), r.status.value, escape(r.detail)) for r in shown],
        )
    if bad and not dry_run:
        kinds = ", ".join(
            f"{sum(1 for r in bad if r.status is s)} {s.value}" for s in Status if any(r.status is s for r in bad)
        )
        fail(f"{len(bad)} of {len(results)} dead letters were not replayed ({kinds}); see the table")


def _letters_table(title: str, found: list[Letter]) -> None:
    _table(
        title,
        ["id", "group", "type", "error", "failed at (UTC)"],
        [(lt.ref, escape(lt.group), escape(lt.event_type), _error(lt), _when(lt)) for lt in found],
    )


def _table(title: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Like emit_table, but ids are never wrapped or cut: people copy them into the next command."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=column in {"id", "event id", "entry"})
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def _error(letter: Letter) -> str:
    text = f"{letter.error_type}: {letter.summary()['error']}"
    return escape(text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…")


def _when(letter: Letter) -> str:
    """When it was dead-lettered, to the second, in UTC: `2024-05-01 10:00:00`."""
    return datetime.fromtimestamp(letter.failed_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _age(ms: int | None) -> str:
    """Milliseconds as a short age: 850ms, 12s, 4m, 3h, 2d."""
    if ms is None:
        return "-"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
