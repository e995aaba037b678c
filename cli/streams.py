"""`aiwf streams | groups | pending | reclaim`: streams and consumer groups, read from Redis."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from aiwf.bus import alarms
from aiwf.bus.connection import Redis
from aiwf.cli.known import hinted
from aiwf.cli.letters import GroupArg, Json, StreamArg
from aiwf.cli.park import park
from aiwf.cli.support import EXIT_USAGE, age, emit_json, emit_table, fail, id_table, plural, run, usage
from aiwf.dlq import inspect as inspect_
from aiwf.dlq import pending as pending_
from aiwf.dlq.filters import parse_count, stream_key


def register(app: typer.Typer) -> None:
    """Add `streams`, `groups`, `pending` and `reclaim` to `app`."""
    app.command("streams")(streams)
    app.command("groups")(groups)
    app.command("pending")(pending)
    app.command("reclaim")(reclaim)


async def _with_alarms(client: Redis) -> list[tuple[inspect_.StreamInfo, alarms.StreamAlarms]]:
    found = await inspect_.streams(client)
    return [(s, await alarms.read(client, s.key)) for s in found]


def streams(json_: Json = False) -> None:
    """Every event stream: length, groups, consumers, pending, worst lag, dead letters, last entry age,
    and its alarms (a retention backlog past its bound, groups recreated after they vanished)."""
    found = run(lambda client, _: _with_alarms(client))
    if json_:
        emit_json([{**s.as_json(), **a.as_json(), "alarms": a.lines(s.key)} for s, a in found])
        return
    emit_table(
        plural(len(found), "stream"),
        ["stream", "length", "groups", "consumers", "pending", "lag", "dead letters", "last entry", "alarms"],
        [
            (
                escape(s.domain),
                s.length,
                len(s.groups),
                sum(g.consumer_count for g in s.groups),
                sum(g.pending for g in s.groups),
                s.lag,
                s.dead_letters,
                age(s.idle_ms),
                escape("\n".join(a.lines(s.key))),
            )
            for s, a in found
        ],
    )


def groups(stream: StreamArg, json_: Json = False) -> None:
    """One stream's consumer groups and their consumers: idle time, pending, lag."""
    key = usage(lambda: stream_key(stream))
    info = run(lambda client, _: hinted(client, inspect_.describe(client, key), key))
    if json_:
        emit_json({**info.as_json(), "group_details": [g.as_json() for g in info.groups]})
        return
    emit_table(
        f"{escape(key)}: {plural(info.length, 'entry', 'entries')}, {plural(info.dead_letters, 'dead letter')}",
        ["group", "consumers", "pending", "lag", "last delivered", "idle"],
        [
            (escape(g.name), g.consumer_count, g.pending, g.lag, g.last_delivered_id, age(g.idle_ms))
            for g in info.groups
        ],
    )
    rows = [(escape(g.name), escape(c.name), c.pending, age(c.idle_ms)) for g in info.groups for c in g.consumers]
    if rows:
        emit_table("consumers", ["group", "consumer", "pending", "idle"], rows)


def pending(
    stream: StreamArg,
    group: GroupArg,
    limit: Annotated[int, typer.Option("--limit", help="Show the oldest N pending entries.")] = 100,
    park_: Annotated[
        str | None, typer.Option("--park", metavar="ENTRY_ID", help="Move this pending entry to the dead letters.")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why it is parked (kept in the letter).")] = "by hand",
    json_: Json = False,
) -> None:
    """A group's pending entries (delivered, not acknowledged): owner, idle time, delivery count; or --park one."""
    key = usage(lambda: stream_key(stream))
    usage(lambda: parse_count(limit, "--limit", 10_000))
    if park_ is not None:
        entry_id = park_
        parked = run(
            lambda client, config: hinted(client, park(client, config, key, group, entry_id, reason), key, group)
        )
        if json_:
            emit_json({"stream": key, "group": group, "parked": parked.as_json()})
        else:
            owner = f"{parked.deliveries} deliveries, last {parked.consumer}"
            typer.echo(f"parked {parked.entry_id} ({owner}) in {parked.dead_letters}")
        return
    total, rows = run(lambda client, _: hinted(client, pending_.pending(client, key, group, limit), key, group))
    if json_:
        emit_json({"stream": key, "group": group, "pending": total, "entries": [r.as_json() for r in rows]})
        return
    id_table(
        f"{escape(group)} on {escape(key)}: {total} pending"
        + (f" (oldest {len(rows)} shown)" if total > len(rows) else ""),
        ["entry", "consumer", "idle", "deliveries", "event id", "type"],
        [
            (r.entry_id, escape(r.consumer), age(r.idle_ms), r.deliveries, escape(r.event_id), escape(r.event_type))
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
    key = usage(lambda: stream_key(stream))
    usage(lambda: parse_count(limit, "--limit", 10_000))
    if min_idle_ms < 0:
        fail(f"bad --min-idle-ms {min_idle_ms}: must be >= 0", EXIT_USAGE)
    if not consumer.strip() or len(consumer) > 200:
        fail("bad --consumer: give a name of 1..200 characters", EXIT_USAGE)
    rows = run(
        lambda client, _: hinted(client, pending_.reclaim(client, key, group, consumer, min_idle_ms, limit), key, group)
    )
    if json_:
        emit_json({"stream": key, "group": group, "consumer": consumer, "claimed": [r.as_json() for r in rows]})
        return
    id_table(
        f"claimed {plural(len(rows), 'entry', 'entries')} to {escape(consumer)}",
        ["entry", "from consumer", "idle", "deliveries"],
        [(r.entry_id, escape(r.consumer), age(r.idle_ms), r.deliveries) for r in rows],
    )
