"""`aiwf publish TYPE --data JSON` and `aiwf tail STREAM`: events in and out of the streams."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any, cast

import typer

from aiwf.bus import codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.publish import CALLER_ID, Publisher, build
from aiwf.cli.known import require_stream, require_type
from aiwf.cli.support import JsonOpt, emit_json, emit_table, fail, run, usage
from aiwf.dlq.errors import BadArgument
from aiwf.schemas import SchemaError
from aiwf.schemas.masking import mask_payload, mask_sealed

Entries = list[tuple[bytes, dict[bytes, bytes]]]


def register(app: typer.Typer) -> None:
    """Add `publish` and `tail` to `app`."""
    app.command()(publish)
    app.command()(tail)


def publish(
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="e.g. documents.document.uploaded")],
    data: Annotated[str, typer.Option("--data", help="Payload as JSON, or @path to a JSON file.")],
    version: Annotated[int | None, typer.Option("--version", help="Schema version of --data (upcast).")] = None,
    correlation_id: Annotated[str | None, typer.Option("--correlation-id")] = None,
    event_id: Annotated[
        str | None,
        typer.Option("--id", metavar="EVENT_ID", help="Fix the event id: publishing again with it is the same event."),
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option("--header", metavar="KEY=VALUE", help="Envelope metadata; repeatable.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate and publish one event; prints its event id."""
    require_type(event_type)
    headers = usage(lambda: parse_headers(header or []))
    raw = _read_data(data)
    if not isinstance(raw, dict):
        fail("--data must be a JSON object")

    async def body(client: Redis, config: BusConfig) -> str:
        env = build(
            event_type,
            raw,
            version=version,
            producer=config.producer,
            correlation_id=correlation_id,
            event_id=event_id,
            headers=headers,
        )
        # A fixed id may be a retry of a publish that landed: consumers check its marker first.
        await Publisher(client, config).publish_envelope(env, redelivery=CALLER_ID if event_id else None)
        return env.id

    event_id = run(body)
    if as_json:
        emit_json({"id": event_id, "type": event_type, "stream": keys.stream(keys.domain_of(event_type))})
    else:
        print(event_id)


def parse_headers(pairs: list[str]) -> dict[str, str]:
    """`["k=v", ...]` -> `{"k": "v"}` (the value may hold `=`); BadArgument for a pair without `=`.

    Names, count and size are checked where every publish checks them (the envelope)."""
    headers: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise BadArgument(f"bad --header {pair[:80]!r}: give KEY=VALUE")
        if key in headers:
            raise BadArgument(f"bad --header {key[:80]!r}: given twice")
        headers[key] = value
    return headers


def _read_data(data: str) -> Any:
    try:
        text = Path(data[1:]).read_bytes() if data.startswith("@") else data.encode()
        return codec.parse_json_arg(text, "--data")
    except OSError as exc:
        fail(f"cannot read {data[1:]}: {exc.strerror}")
    except SchemaError as exc:
        fail(str(exc))


def tail(
    stream: Annotated[str, typer.Argument(help="A domain (documents) or a stream key.")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=10_000)] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new events.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The newest events of a stream (the schema's secret fields and sealed values shown as ***);
    an unknown stream is an error. With --follow, one line per event (entry, type, event id,
    correlation, payload) as each arrives, until Ctrl-C."""
    key = stream if stream.startswith(f"{keys.PREFIX}:") else keys.stream(stream)

    def show(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        rows = [_entry_row(eid, fields) for eid, fields in entries]
        if as_json:
            for row in rows:
                emit_json(row)
        elif follow:  # one line per event as it comes: a table cannot grow
            for r in rows:
                line = "  ".join([r["entry"], r["type"], r["id"], r.get("correlation_id") or "-", _short(r["payload"])])
                print(line, flush=True)
        elif rows:
            emit_table(
                key,
                ["entry", "type", "event id", "correlation", "payload"],
                [[r["entry"], r["type"], r["id"], r.get("correlation_id", ""), _short(r["payload"])] for r in rows],
            )

    async def body(client: Redis, config: BusConfig) -> None:
        await require_stream(client, stream, key)
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
    row: dict[str, Any] = {
        "entry": entry_id.decode(),
        "id": fields.get(b"id", b"").decode(errors="replace"),
        "type": fields.get(b"type", b"").decode(errors="replace"),
    }
    try:
        env = codec.loads(fields.get(b"body", b""), 64_000_000)
        row |= {
            "correlation_id": env.correlation_id,
            "causation_id": env.causation_id,
            "occurred_at": env.occurred_at.isoformat(),
            "version": env.version,
            "producer": env.producer,
            "traceparent": env.traceparent,
            "headers": mask_sealed(env.headers),
            "payload": mask_payload(env.type, env.payload),
        }
    except SchemaError as exc:
        row["payload"] = None
        row["error"] = str(exc)
    return row


def _short(value: Any, width: int = 70) -> str:
    text = codec.to_json(value).decode() if value is not None else ""
    return text if len(text) <= width else text[: width - 1] + "…"
