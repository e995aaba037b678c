"""`aiwf dlq audit`: who replayed or purged which dead letters, and when, newest first."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.letters import Json
from aiwf.cli.support import EXIT_USAGE, emit_json, fail, id_table, plural, run, suggest
from aiwf.dlq import audit as audit_

DEFAULT_LIMIT = 20
#: Letter ids shown per run in the table (all of them with --json).
LETTERS_SHOWN = 3


def audit(
    stream: Annotated[
        str | None,
        typer.Option("--stream", help="A domain (llm): its per-letter replay trail instead of the runs."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many entries.")] = DEFAULT_LIMIT,
    json_: Json = False,
) -> None:
    """The audit trail, newest first: each replay or purge run (who, host, when, how many, which letters).

    --stream DOMAIN lists the one entry per replayed letter that replay writes with the letter itself."""
    if limit < 1:
        fail(f"--limit must be at least 1, got {limit}", EXIT_USAGE)

    async def body(client: Redis, _config: BusConfig) -> list[dict[str, Any]]:
        found = await audit_.recent(client, limit, stream)
        if stream and not found:
            known = await audit_.trails(client)
            hint = suggest(stream, known) or (f"; trails exist for: {', '.join(known)}" if known else "")
            fail(f"no replay audit trail for {stream!r} (no letter of it was replayed){hint}")
        return found

    entries = run(body)
    if json_:
        emit_json(entries)
        return
    if stream:
        id_table(
            f"{plural(len(entries), 'replayed letter')} of {stream}, newest first",
            ["entry", "at", "user", "host", "letter", "event id", "group", "run"],
            [_per_letter(e) for e in entries],
        )
        return
    id_table(
        f"{plural(len(entries), 'audit entry', 'audit entries')}, newest first",
        ["entry", "at", "action", "user", "host", "count", "letters"],
        [
            (e["entry"], e.get("at"), e.get("action"), e.get("user"), e.get("host"), e.get("count"), _letters(e))
            for e in entries
        ],
    )


def _per_letter(entry: dict[str, Any]) -> list[Any]:
    columns = ("entry", "at", "user", "host", "letter", "event_id")
    return [*(entry.get(k) for k in columns), entry.get("group") or "all", entry.get("run")]


def _letters(entry: dict[str, Any]) -> str:
    refs = [str(lt.get("id")) for lt in entry.get("letters") or [] if isinstance(lt, dict)]
    more = f" +{len(refs) - LETTERS_SHOWN} more" if len(refs) > LETTERS_SHOWN else ""
    return escape(", ".join(refs[:LETTERS_SHOWN]) + more)
