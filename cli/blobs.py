"""`aiwf blobs put | get | ls | gc`: the claim-check store (AIWF_BLOB_DIR, default `<data dir>/blobs`)."""

from __future__ import annotations

import mimetypes
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from aiwf.bus.blob_gc import Collection, collect
from aiwf.bus.blobs import BlobError, FileBlobStore, StoredBlob, store_for
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.cli.support import EXIT_USAGE, JsonOpt, console, emit_json, fail, load_config, plural, run, usage
from aiwf.dlq.errors import BadArgument
from aiwf.dlq.filters import parse_duration
from aiwf.schemas.blobref import BlobRef

__all__ = ["register"]

_REF = re.compile(r"^(?:blob:sha256:)?([0-9a-f]{64})$")
DEFAULT_GRACE = "1h"


def register(app: typer.Typer) -> None:
    """Add the `blobs` command group to `app`."""
    blobs = typer.Typer(no_args_is_help=True, help="The blob store large payloads travel through (claim check).")
    blobs.command("put")(put)
    blobs.command("get")(get)
    blobs.command("ls")(ls)
    blobs.command("gc")(gc)
    app.add_typer(blobs, name="blobs")


def put(
    file: Annotated[Path, typer.Argument(help="The file to store; - reads stdin.")],
    content_type: Annotated[
        str | None, typer.Option("--type", help="Content type (default: guessed from the file name).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store FILE and print its ref (`blob:sha256:...`); --json prints the whole ref, an event's `blob` field."""
    kind = content_type or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    try:
        BlobRef.of(b"", kind)
    except ValidationError:
        fail(f"--type {kind!r} is not a content type like text/plain", EXIT_USAGE)
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        ref = _store().put(data, kind)
    except BlobError as exc:
        fail(str(exc))
    if as_json:
        emit_json(ref.model_dump())
    else:
        print(ref.uri)


def get(
    ref: Annotated[
        str, typer.Argument(help="blob:sha256:<hex> (or the bare hex), as an event or `blobs ls` shows it.")
    ],
    out: Annotated[Path | None, typer.Option("-o", "--output", help="Write to this file (default: stdout).")] = None,
) -> None:
    """Write the blob REF to a file (-o, then print its path) or to stdout when stdout is not a terminal."""
    sha256 = usage(lambda: _sha256(ref))
    if out is None and sys.stdout.isatty():
        fail("a blob is bytes: write it to a file with -o FILE, or redirect stdout", EXIT_USAGE)
    store = _store()
    try:
        data = store.get(store.ref_for(sha256))
    except BlobError as exc:
        fail(str(exc))
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        out.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    print(out)


def ls(as_json: JsonOpt = False) -> None:
    """Every blob in the store, newest first: ref, size, last put (UTC)."""
    blobs = sorted(_store().stored(), key=lambda b: b.modified, reverse=True)
    if as_json:
        emit_json([_row(b) for b in blobs])
        return
    total = sum(b.size for b in blobs)
    _blob_lines(f"{plural(len(blobs), 'blob')}, {total} bytes, in {_store().root}", blobs)


def gc(
    grace: Annotated[
        str, typer.Option("--grace", help="Keep blobs put within this long (30m, 2h, 7d): their events may follow.")
    ] = DEFAULT_GRACE,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove blobs that no event, dead letter or record in Redis references and that are older than --grace.

    Run it against the Redis the workers use: a blob referenced only elsewhere looks unreferenced here."""
    grace_s = usage(lambda: parse_duration(grace, "--grace")).total_seconds()
    store = _store()

    async def body(client: Redis, _config: BusConfig) -> Collection:
        return await collect(client, store, grace_s, dry_run=dry_run)

    result = run(body)
    done = "would remove" if dry_run else "removed"
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "removed": [_row(b) for b in result.removed],
                "freed_bytes": result.freed_bytes,
                "referenced": result.referenced,
                "younger_than_grace": result.young,
            }
        )
        return
    console.print(
        f"{done} {plural(len(result.removed), 'blob')} ({result.freed_bytes} bytes); kept {result.referenced} "
        f"referenced, {result.young} put within {grace}",
        soft_wrap=True,
        highlight=False,
        markup=False,
    )
    if result.removed:
        _blob_lines(f"{done}:", result.removed)


def _blob_lines(title: str, blobs: list[StoredBlob]) -> None:
    """A title, then one line per blob (a ref is 76 characters: a table would cut it on a narrow terminal)."""
    print(title)
    for blob in blobs:
        print(f"{blob.uri}  {blob.size:>10} bytes  {_when(blob.modified)}")


def _store() -> FileBlobStore:
    return store_for(load_config())


def _sha256(ref: str) -> str:
    match = _REF.match(ref.strip())
    if not match:
        raise BadArgument(f"bad blob ref {ref!r}: give blob:sha256:<64 hex digits>")
    return match[1]


def _row(blob: StoredBlob) -> dict[str, object]:
    return {"uri": blob.uri, "sha256": blob.sha256, "size": blob.size, "modified_at": _when(blob.modified)}


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
