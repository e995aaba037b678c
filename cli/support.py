"""What every CLI command shares: one Redis connection, JSON or table output, one-line errors.

A command body is an async function; `run()` executes it and turns every AiwfError, schema
error or Redis failure into one readable line on stderr and exit code 1 (2 for bad usage),
never a traceback.
"""

from __future__ import annotations

import asyncio
import difflib
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from redis.connection import parse_url
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table

from aiwf.bus.codec import to_json
from aiwf.bus.config import BusConfig, ReleaseSettings
from aiwf.bus.connection import CONNECTION_ERRORS, Redis, check_access, connect, node_url
from aiwf.bus.errors import AiwfError
from aiwf.bus.server import embedded_access, running_embedded_url
from aiwf.dlq.errors import BadArgument
from aiwf.schemas import SchemaError

__all__ = [
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "JsonOpt",
    "age",
    "check_login",
    "check_url",
    "confirm",
    "console",
    "emit_json",
    "emit_table",
    "fail",
    "id_table",
    "interactive",
    "load_config",
    "load_events",
    "load_release",
    "plural",
    "redis_url",
    "run",
    "suggest",
    "usage",
]

T = TypeVar("T")
console = Console()
EXIT_FAILURE, EXIT_USAGE = 1, 2
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def load_events() -> None:
    """Register every domain's event models (only the commands that read or write events need them)."""
    import aiwf.schemas.events  # noqa: F401, PLC0415 - imported for its registrations


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    """Print `aiwf: <message>` on stderr and exit with `code`."""
    print(f"aiwf: {message}", file=sys.stderr)
    raise typer.Exit(code)


def redis_url(config: BusConfig) -> str:
    """REDIS_URL, else the embedded server `aiwf up` is running; a clear error when neither."""
    url = config.redis_url or running_embedded_url(config.data_dir)
    if url is None:
        fail(f"no Redis: set REDIS_URL, or start one with `aiwf up` (looked in {config.data_dir}/redis.url)")
    return check_url(url)


def check_url(url: str) -> str:
    """`url` if redis-py can parse it; else one line and exit 2 (a traceback from from_url otherwise)."""
    try:
        parse_url(node_url(url))  # type: ignore[no-untyped-call]
    except ValueError as exc:
        fail(f"REDIS_URL {url!r} is not a Redis URL: {exc}", EXIT_USAGE)
    return url


def run(body: Callable[[Redis, BusConfig], Awaitable[T]]) -> T:
    """Run an async command body with a connected client; errors become one line and exit 1."""
    config = load_config()

    async def main() -> T:
        url = redis_url(config)
        client = connect(url, config)
        try:
            await check_access(client, url, config)
            await client.ping()
            return await body(client, config)
        finally:
            await client.aclose()

    try:
        return asyncio.run(main())
    except (AiwfError, SchemaError) as exc:
        fail(str(exc))
    except CONNECTION_ERRORS as exc:
        fail(f"Redis at {config.redis_url or 'the embedded server'} is unreachable: {exc}")
    except RedisError as exc:
        fail(f"Redis refused the command: {exc}")


def check_login(url: str, config: BusConfig) -> None:
    """One `aiwf:` line and exit 1 when Redis refuses this process's user or TLS handshake (bus check_access)."""

    async def main() -> None:
        client = connect(url, config)
        try:
            await check_access(client, url, config)
        finally:
            await client.aclose()

    try:
        asyncio.run(main())
    except AiwfError as exc:
        fail(str(exc))


def load_config(identity: str = "operator", **overrides: object) -> BusConfig:
    """BusConfig from the environment; a bad setting is one line and exit 2.

    With AIWF_REDIS_ACL / AIWF_REDIS_TLS on and no user or certificate set, the process logs in as
    `aiwf-<identity>` with the data dir's password and certificate (bus/server.py embedded_access):
    the operator for CLI commands, each worker as itself.
    """
    try:
        return embedded_access(BusConfig.from_env(**overrides), identity)
    except AiwfError as exc:
        fail(str(exc), EXIT_USAGE)


def load_release(name: str) -> ReleaseSettings:
    """The release settings from the environment with `name` (`--release`) instead of AIWF_RELEASE."""
    try:
        return ReleaseSettings.from_env(name=name)
    except AiwfError as exc:
        fail(f"--release: {exc}", EXIT_USAGE)


def emit_json(value: Any) -> None:
    """Machine output: compact JSON on stdout, one document."""
    sys.stdout.buffer.write(to_json(value) + b"\n")
    sys.stdout.flush()


def emit_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """People output: a rich table (plain text when stdout is not a terminal)."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def id_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Like emit_table, but ids are never wrapped or cut: people copy them into the next command."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=column in {"id", "event id", "entry"})
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def age(ms: int | None) -> str:
    """Milliseconds as a short age: 850ms, 12s, 4m, 3h, 2d."""
    if ms is None:
        return "-"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 dead letter`, `2 dead letters` (`many` for irregular nouns: entry, entries)."""
    return f"{count} {noun}" if count == 1 else f"{count} {many or noun + 's'}"


def suggest(wanted: str, known: Iterable[str], limit: int = 3) -> str:
    """`; did you mean a, b?` for the known names closest to `wanted`, or `` when none is close."""
    close = difflib.get_close_matches(wanted, list(known), n=limit, cutoff=0.5)
    return f"; did you mean {', '.join(close)}?" if close else ""


def nearest(wanted: str, known: Iterable[str], what: str, shown: int = 8) -> str:
    """`suggest`, or when nothing is close `; known WHAT: a, b, c` (the first `shown`), or `` when none is known."""
    names = sorted(set(known))
    if close := suggest(wanted, names):
        return close
    if not names:
        return ""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"; known {what}: {', '.join(names[:shown])}{more}"


def interactive() -> bool:
    """True when there is a person at stdin to answer a question."""
    return sys.stdin.isatty()


def confirm(action: str, needed: bool, yes: bool) -> None:
    """Ask before `action` when needed; without a terminal, demand --yes."""
    if not needed or yes:
        return
    if not interactive():
        fail(f"about to {action}: confirm with --yes (no terminal to ask on)", EXIT_FAILURE)
    if not typer.confirm(f"{action.capitalize()}?", default=False):
        fail("cancelled; nothing changed", EXIT_FAILURE)


def usage(parse: Callable[[], T]) -> T:
    """Run an argument parser; a BadArgument is a usage error (exit 2)."""
    try:
        return parse()
    except BadArgument as exc:
        fail(str(exc), EXIT_USAGE)
