"""`aiwf schemas ls | show | export | check`: the registered event types, one type for producers, their
JSON Schemas, breaking changes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape

import aiwf.schemas
from aiwf.bus import codec
from aiwf.cli.known import require_type
from aiwf.cli.support import JsonOpt, console, emit_json, emit_table, fail, load_events
from aiwf.schemas import REGISTRY
from aiwf.schemas.compat import check
from aiwf.schemas.describe import describe
from aiwf.schemas.export import export
from aiwf.workers import WORKERS, load

#: The committed snapshot `check` compares against: it ships inside the schemas package.
SNAPSHOT = Path(aiwf.schemas.__file__).with_name("snapshot.json")


def register(app: typer.Typer) -> None:
    """Add the `schemas` command group to `app`."""
    schemas_app = typer.Typer(no_args_is_help=True, help="Event schemas: list, export, check for breaking changes.")
    schemas_app.command("ls")(schemas_ls)
    schemas_app.command("export")(schemas_export)
    schemas_app.command("check")(schemas_check)
    schemas_app.command("show")(schemas_show)
    app.add_typer(schemas_app, name="schemas")


def schemas_ls(as_json: JsonOpt = False) -> None:
    """Registered event types, their versions and compatibility mode."""
    load_events()
    rows = [[t, ",".join(map(str, REGISTRY.versions(t))), REGISTRY.compat[t].value] for t in REGISTRY.types()]
    if as_json:
        emit_json([{"type": t, "versions": v, "compat": c} for t, v, c in rows])
    else:
        emit_table("event types", ["type", "versions", "compat"], rows)


def schemas_export(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
    asyncapi: Annotated[bool, typer.Option("--asyncapi", help="AsyncAPI 3.0 of every worker.")] = False,
) -> None:
    """JSON Schema of the envelope and of every event version, or the AsyncAPI document."""
    load_events()
    data = codec.to_json(asyncapi_document() if asyncapi else export())
    if out:
        _write(out, data + b"\n")
    else:
        sys.stdout.buffer.write(data + b"\n")


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI document of every worker's subscriptions and every registered event type."""
    from aiwf.cli.asyncapi import document  # noqa: PLC0415 - faststream's spec builder is slow to import

    return document([load(name) for name in WORKERS])


def schemas_check(
    update: Annotated[bool, typer.Option("--update", help="Accept the current schemas as the new snapshot.")] = False,
    snapshot: Annotated[Path, typer.Option("--snapshot")] = SNAPSHOT,
) -> None:
    """Refuse schema changes that would break readers, against the committed snapshot."""

    load_events()
    current = export()
    if not snapshot.exists() and not update:
        fail(f"no snapshot at {snapshot}; create it with `aiwf schemas check --update` and commit it")
    old = _read_snapshot(snapshot) if snapshot.exists() else {"events": {}}
    problems = check(old, current)
    if problems and not update:
        for problem in problems:
            print(f"aiwf: breaking change: {problem}", file=sys.stderr)
        raise typer.Exit(1)
    if update:
        _write(snapshot, orjson.dumps(current, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
        print(f"snapshot written: {snapshot}")
    else:
        print(f"ok: {len(current['events'])} event types compatible with {snapshot.name}")


def schemas_show(
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="An event type, e.g. documents.document.uploaded.")],
    as_json: JsonOpt = False,
) -> None:
    """One event type for producers: its fields with their types and constraints, one valid example
    payload (ready for `aiwf publish TYPE --data`), and every version with the upcaster that lifts it."""
    require_type(event_type)
    info = describe(event_type)
    if as_json:
        emit_json(info)
        return
    console.print(f"{event_type} v{info['version']} ({info['compat']})", highlight=False)
    if info["description"]:
        console.print(info["description"], highlight=False)
    emit_table(
        "fields",
        ["field", "type", "required", "constraints", "secret", "description"],
        [
            [
                f["name"],
                f["type"],
                "yes" if f["required"] else "no",
                escape(", ".join(f"{k}={_constraint(v)}" for k, v in f["constraints"].items())),
                "sealed" if f["secret"] else "",
                escape(f["description"]),
            ]
            for f in info["fields"]
        ],
    )
    example = info["example"]
    console.print("example payload:", highlight=False)
    console.print(
        codec.to_json(example).decode() if example is not None else "(none could be built)",
        highlight=False,
        soft_wrap=True,
    )
    emit_table(
        "versions",
        ["version", "model", "upcast to the next by"],
        [
            [v["version"], v["model"], v["upcaster"] or ("-" if v["version"] == info["version"] else "none")]
            for v in info["versions"]
        ],
    )


def _constraint(value: Any) -> str:
    return codec.to_json(value).decode() if not isinstance(value, str) else value


def _read_snapshot(path: Path) -> Any:

    try:
        old = orjson.loads(path.read_bytes())
    except OSError as exc:
        fail(f"cannot read snapshot {path}: {exc.strerror}")
    except orjson.JSONDecodeError as exc:
        fail(f"snapshot {path} is not valid JSON: {exc}")
    if not isinstance(old, dict) or not isinstance(old.get("events", {}), dict):
        fail(f'snapshot {path} is not a schema snapshot (want an object with an "events" object)')
    return old


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
