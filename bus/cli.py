"""The `aiwf` command line. Each command: --json for machines, a table for people,
exit 0 only on success, one line on stderr for errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.live import Live

from aiwf.bus import codec, keys
from aiwf.bus.cli_support import (
    EXIT_USAGE,
    check_url,
    console,
    emit_json,
    emit_table,
    fail,
    load_config,
    redis_url,
    run,
)
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.errors import AiwfError
from aiwf.bus.logs import configure_logging
from aiwf.bus.publish import Publisher, build
from aiwf.bus.server import EmbeddedRedis, running_embedded_url
from aiwf.bus.supervise import Supervisor, child_env
from aiwf.schemas import REGISTRY, SchemaError
from aiwf.schemas.secrets import mask_sealed

app = typer.Typer(no_args_is_help=True, add_completion=False, help="aiwf: AI workflow services on Redis Streams.")
schemas_app = typer.Typer(no_args_is_help=True, help="Event schemas: list, export, check for breaking changes.")
app.add_typer(schemas_app, name="schemas")
keys_app = typer.Typer(no_args_is_help=True, help="Keys that seal secret fields for the services that own them.")
app.add_typer(keys_app, name="keys")
SNAPSHOT = Path(__file__).resolve().parent.parent / "schemas" / "snapshot.json"
Entries = list[tuple[bytes, dict[bytes, bytes]]]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _load_events() -> None:
    import aiwf.schemas.events  # noqa: F401, PLC0415 - registers every domain's models


# -- publish / tail ----------------------------------------------------------------------------


@app.command()
def publish(
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="e.g. documents.document.uploaded")],
    data: Annotated[str, typer.Option("--data", help="Payload as JSON, or @path to a JSON file.")],
    version: Annotated[int | None, typer.Option("--version", help="Schema version of --data (upcast).")] = None,
    correlation_id: Annotated[str | None, typer.Option("--correlation-id")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate and publish one event; prints its event id."""
    _load_events()
    raw = _read_data(data)
    if not isinstance(raw, dict):
        fail("--data must be a JSON object")

    async def body(client: Redis, config: BusConfig) -> str:
        env = build(event_type, raw, version=version, producer=config.producer, correlation_id=correlation_id)
        await Publisher(client, config).publish_envelope(env)
        return env.id

    event_id = run(body)
    if as_json:
        emit_json({"id": event_id, "type": event_type, "stream": keys.stream(keys.domain_of(event_type))})
    else:
        print(event_id)


def _read_data(data: str) -> Any:
    try:
        text = Path(data[1:]).read_bytes() if data.startswith("@") else data.encode()
        return codec.parse_json_arg(text, "--data")
    except OSError as exc:
        fail(f"cannot read {data[1:]}: {exc.strerror}")
    except SchemaError as exc:
        fail(str(exc))


@app.command()
def tail(
    stream: Annotated[str, typer.Argument(help="A domain (documents) or a stream key.")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=10_000)] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The newest events of a stream (secret fields shown as ***)."""
    key = stream if stream.startswith(f"{keys.PREFIX}:") else keys.stream(stream)

    def show(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        rows = [_entry_row(eid, fields) for eid, fields in entries]
        if as_json:
            for row in rows:
                emit_json(row)
        elif rows:
            emit_table(key, ["entry", "type", "event id", "correlation", "payload"],
                       [[r["entry"], r["type"], r["id"], r.get("correlation_id", ""), _short(r["payload"])]
                        for r in rows])

    async def body(client: Redis, config: BusConfig) -> None:
        entries = list(reversed(cast("Entries", await client.xrevrange(key, count=count))))
        show(entries)
        last: bytes | str = entries[-1][0] if entries else "$"
        while follow:
            reply = cast("list[tuple[bytes, Entries]]", await client.xread({key: last}, block=500, count=100))
            if reply:
                new = reply[0][1]
                show(new)
                last = new[-1][0]

    with contextlib.suppress(KeyboardInterrupt):
        run(body)


def _entry_row(entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
    row: dict[str, Any] = {"entry": entry_id.decode(), "id": fields.get(b"id", b"").decode(errors="replace"),
                           "type": fields.get(b"type", b"").decode(errors="replace")}
    try:
        env = codec.loads(fields.get(b"body", b""), 64_000_000)
        row |= {"correlation_id": env.correlation_id, "causation_id": env.causation_id,
                "occurred_at": env.occurred_at.isoformat(), "version": env.version, "payload": mask_sealed(env.payload)}
    except SchemaError as exc:
        row["payload"] = None
        row["error"] = str(exc)
    return row


def _short(value: Any, width: int = 70) -> str:
    text = codec.to_json(value).decode() if value is not None else ""
    return text if len(text) <= width else text[: width - 1] + "…"


# -- schemas -----------------------------------------------------------------------------------


@schemas_app.command("ls")
def schemas_ls(as_json: JsonOpt = False) -> None:
    """Registered event types, their versions and compatibility mode."""
    _load_events()
    rows = [[t, ",".join(map(str, REGISTRY.versions(t))), REGISTRY.compat[t].value] for t in REGISTRY.types()]
    if as_json:
        emit_json([{"type": t, "versions": v, "compat": c} for t, v, c in rows])
    else:
        emit_table("event types", ["type", "versions", "compat"], rows)


@schemas_app.command("export")
def schemas_export(
    out: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
    asyncapi: Annotated[bool, typer.Option("--asyncapi", help="AsyncAPI 3.0 of every worker.")] = False,
) -> None:
    """JSON Schema of the envelope and of every event version, or the AsyncAPI document."""
    from aiwf.schemas.export import export  # noqa: PLC0415

    _load_events()
    if asyncapi:
        from aiwf.bus.asyncapi import document  # noqa: PLC0415
        from aiwf.workers import WORKERS, load  # noqa: PLC0415

        data = codec.to_json(document([load(name) for name in WORKERS]))
    else:
        data = codec.to_json(export())
    if out:
        _write(out, data + b"\n")
    else:
        sys.stdout.buffer.write(data + b"\n")


@schemas_app.command("check")
def schemas_check(
    update: Annotated[bool, typer.Option("--update", help="Accept the current schemas as the new snapshot.")] = False,
    snapshot: Annotated[Path, typer.Option("--snapshot")] = SNAPSHOT,
) -> None:
    """Refuse schema changes that would break readers, against the committed snapshot."""
    import orjson  # noqa: PLC0415

    from aiwf.schemas.compat import check  # noqa: PLC0415
    from aiwf.schemas.export import export  # noqa: PLC0415

    _load_events()
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


def _read_snapshot(path: Path) -> Any:
    import orjson  # noqa: PLC0415

    try:
        old = orjson.loads(path.read_bytes())
    except OSError as exc:
        fail(f"cannot read snapshot {path}: {exc.strerror}")
    except orjson.JSONDecodeError as exc:
        fail(f"snapshot {path} is not valid JSON: {exc}")
    if not isinstance(old, dict) or not isinstance(old.get("events", {}), dict):
        fail(f"snapshot {path} is not a schema snapshot (want an object with an \"events\" object)")
    return old


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")


# -- keys --------------------------------------------------------------------------------------


def secret_owners() -> list[str]:
    """Every service some registered event seals secrets for."""
    _load_events()
    return sorted({model.recipient() for _, _, model in REGISTRY if model.event_secret_fields})


def ensure_keys() -> None:
    """Create missing key pairs for every secret owner under AIWF_KEYS_DIR (never overwrites)."""
    from aiwf.schemas.secrets import generate, keys_dir  # noqa: PLC0415

    owners = secret_owners()
    root = keys_dir()
    missing = [o for o in owners if not (root / f"{o}.key").exists()]
    if missing:
        generate(root, missing)
        console.print(f"generated secret keys for {', '.join(missing)} in {root}/", style="dim")


@keys_app.command("generate")
def keys_generate(
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: every secret owner).")] = None,
) -> None:
    """Write X25519 key pairs (<service>.key, <service>.pub) under AIWF_KEYS_DIR for sealed secrets."""
    from aiwf.schemas.secrets import SecretError, generate, keys_dir  # noqa: PLC0415

    try:
        generate(keys_dir(), services or secret_owners())
    except SecretError as exc:
        fail(str(exc))
    print(keys_dir())


# -- health ------------------------------------------------------------------------------------


async def heartbeats(client: Redis) -> list[dict[str, str]]:
    """Every live worker's heartbeat, by service."""
    rows = []
    async for key in client.scan_iter(match=keys.HEARTBEAT_PATTERN, count=200):
        beat = cast("dict[bytes, bytes]", await client.hgetall(key))
        rows.append({k.decode(): v.decode() for k, v in beat.items()})
    return sorted(rows, key=lambda r: r.get("service", ""))


@app.command()
def health(as_json: JsonOpt = False) -> None:
    """Which services are up, degraded or offline, from their heartbeats. Exit 1 if any is not running."""
    from aiwf.bus.health import summarize  # noqa: PLC0415
    from aiwf.workers import WORKERS  # noqa: PLC0415

    rows = summarize(run(lambda client, _config: heartbeats(client)), WORKERS)
    if as_json:
        emit_json(rows)
    else:
        columns = ["service", "state", "instances", "processed", "failed", "dead_lettered", "pending", "reason"]
        emit_table("services", columns, [[r[c] for c in columns] for r in rows])
    if any(r["state"] != "running" for r in rows):
        raise typer.Exit(1)


# -- worker / up -------------------------------------------------------------------------------


@app.command()
def worker(
    name: Annotated[str, typer.Argument(help="auth | calendar | documents | llm | tts | pipeline")],
    health_port: Annotated[int | None, typer.Option("--health-port", envvar="AIWF_HEALTH_PORT")] = None,
) -> None:
    """Run one worker (what each container runs) until SIGTERM/SIGINT."""
    from aiwf.bus.worker import run_service  # noqa: PLC0415
    from aiwf.workers import load  # noqa: PLC0415

    _configure_logging()
    try:
        service = load(name)
    except (KeyError, AiwfError) as exc:
        fail(str(exc).strip("'\""))
    config = load_config(producer=name)
    run_service(service, config, redis_url(config), health_port)


@app.command()
def up(
    only: Annotated[str | None, typer.Option("--only", help="Comma-separated workers (default: all).")] = None,
    table: Annotated[bool, typer.Option("--table/--no-table", help="Live status table.")] = True,
) -> None:
    """Embedded Redis if REDIS_URL is unset, plus every worker, supervised and restarted on crash."""
    from aiwf.workers import WORKERS  # noqa: PLC0415

    _configure_logging()
    names = only.split(",") if only else list(WORKERS)
    unknown = set(names) - set(WORKERS)
    if unknown:
        fail(f"unknown worker(s): {', '.join(sorted(unknown))}; known: {', '.join(WORKERS)}", 2)
    config = load_config()
    server = None
    url = check_url(config.redis_url) if config.redis_url else running_embedded_url(config.data_dir)
    if url is None:
        server = EmbeddedRedis(config.data_dir, appendfsync=os.environ.get("AIWF_APPENDFSYNC", "everysec")).start()
        url = server.url
        console.print(f"embedded Redis at {url} (data in {config.data_dir}/)", style="dim")
    ensure_keys()
    supervisor = Supervisor(names, child_env(url))
    # SIGTERM and SIGINT both mean "drain and stop". Set SIGINT explicitly too: a shell starts
    # background jobs with SIGINT ignored, and Python would then never raise KeyboardInterrupt.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    supervisor.start()
    try:
        _watch(supervisor, url, config, table)
    except KeyboardInterrupt:
        console.print("stopping: draining every worker…", style="dim")
    finally:
        supervisor.stop()
        if server:
            server.stop()


def _watch(supervisor: Supervisor, url: str, config: BusConfig, table: bool) -> None:
    from aiwf.bus.connection import connect  # noqa: PLC0415

    def restarted(child: Any, code: int) -> None:
        console.print(f"{child.name} exited with {code}; restarting in {child.delay_s / 2:.1f}s", style="yellow")

    async def loop() -> None:
        client = connect(url, config)
        live = Live(console=console, refresh_per_second=2) if table else None
        with live or contextlib.nullcontext():
            while True:
                supervisor.tick(restarted)
                if live:
                    try:
                        beats = await heartbeats(client)
                    except Exception:  # noqa: BLE001 - the table shows what it can
                        beats = []
                    live.update(_status_table(supervisor, beats))
                await asyncio.sleep(0.5)

    asyncio.run(loop())


def _status_table(supervisor: Supervisor, beats: list[dict[str, str]]) -> Any:
    from rich.table import Table  # noqa: PLC0415

    from aiwf.bus.health import summarize  # noqa: PLC0415

    rows = {r["service"]: r for r in summarize(beats, list(supervisor.children))}
    table = Table(title=f"aiwf up — {time.strftime('%H:%M:%S')}", title_justify="left")
    for column in ("service", "pid", "state", "processed", "failed", "dead", "pending", "restarts", "reason"):
        table.add_column(column)
    for name, child in supervisor.children.items():
        row = rows[name]
        state = row["state"] if row["state"] != "offline" else ("starting" if child.process else "restarting")
        table.add_row(name, str(child.process.pid if child.process else "-"), state, str(row["processed"]),
                      str(row["failed"]), str(row["dead_lettered"]), str(row["pending"]), str(child.restarts),
                      str(row["reason"])[:40])
    return table


@app.command()
def demo(
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the whole pipeline.")] = 120.0,
) -> None:
    """Run documents -> llm -> tts on the sample article and narrate each event as it happens."""
    from aiwf.workers.pipeline.demo import run_blocking  # noqa: PLC0415

    config = load_config()
    server = None
    url = check_url(config.redis_url) if config.redis_url else running_embedded_url(config.data_dir)
    if url is None:
        server = EmbeddedRedis(config.data_dir).start()
        url = server.url
    supervisor = Supervisor(["documents", "llm", "tts", "pipeline"], child_env(url))
    supervisor.start()
    console.print(f"Redis {url}; started workers documents, llm, tts, pipeline", style="dim")
    try:
        summary, wav = run_blocking(url, config, lambda line: console.print(line, highlight=False), timeout)
    except (TimeoutError, RuntimeError, AiwfError) as exc:
        supervisor.stop()
        if server:
            server.stop()
        fail(str(exc))
    supervisor.stop()
    if server:
        server.stop()
    console.print("\n[bold]Summary[/bold] (extractive unless AIWF_LLM_URL names a model server):")
    console.print(summary, highlight=False)
    console.print(f"\n[bold]Spoken summary:[/bold] {wav}")


def _configure_logging() -> None:
    level = os.environ.get("AIWF_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _register_plugins() -> None:
    """Commands owned by other packages: dlq/ (`dlq`, `streams`, ...), `auth`, `calendar`, `tts`."""
    from aiwf.dlq.cli import register as dlq_commands  # noqa: PLC0415
    from aiwf.workers.auth.verify import register as auth_commands  # noqa: PLC0415
    from aiwf.workers.calendar.cli import register as calendar_commands  # noqa: PLC0415
    from aiwf.workers.tts.cli import register as tts_commands  # noqa: PLC0415

    dlq_commands(app)
    auth_commands(app)
    calendar_commands(app)
    tts_commands(app)


_register_plugins()


def main() -> None:
    """Console-script entry point: usage errors become one `aiwf:` line and exit 2, like every other error."""
    # Recent typer vendors its own click; find its UsageError through a public subclass.
    usage_error: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    command = typer.main.get_command(app)
    try:
        configure_logging("aiwf")
        code = command.main(standalone_mode=False)
    except usage_error as exc:
        error: Any = exc  # click's UsageError: ctx, show(), format_message()
        if type(exc).__name__ == "NoArgsIsHelpError":
            error.show()  # `aiwf` alone shows the help
            code = 0
        else:
            path = error.ctx.command_path.partition(" ")[2] if error.ctx else ""
            where = f"{path}: " if path else ""
            print(f"aiwf: {where}{error.format_message()}", file=sys.stderr)
            code = EXIT_USAGE
    except typer.Abort:
        print("aiwf: aborted", file=sys.stderr)
        code = 1
    except AiwfError as exc:  # a bad AIWF_LOG_LEVEL, before any command runs
        print(f"aiwf: {exc}", file=sys.stderr)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
