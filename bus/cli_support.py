"""What every CLI command shares: one Redis connection, JSON or table output, one-line errors.

A command body is an async function; `run()` executes it and turns every AiwfError, schema
error or Redis failure into one readable line on stderr and exit code 1 (2 for bad usage),
never a traceback.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

import typer
from redis.connection import parse_url
from redis.exceptions import RedisError
from rich.console import Console
from rich.table import Table

from aiwf.bus.codec import to_json
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import CONNECTION_ERRORS, Redis, connect
from aiwf.bus.errors import AiwfError
from aiwf.bus.server import running_embedded_url
from aiwf.schemas import SchemaError

T = TypeVar("T")
console = Console()
EXIT_FAILURE, EXIT_USAGE = 1, 2


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
        parse_url(url)  # type: ignore[no-untyped-call]
    except ValueError as exc:
        fail(f"REDIS_URL {url!r} is not a Redis URL: {exc}", EXIT_USAGE)
    return url


def run(body: Callable[[Redis, BusConfig], Awaitable[T]]) -> T:
    """Run an async command body with a connected client; errors become one line and exit 1."""
    config = load_config()

    async def main() -> T:
        client = connect(redis_url(config), config)
        try:
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


def load_config(**overrides: object) -> BusConfig:
    """BusConfig from the environment; a bad setting is one line and exit 2."""
    try:
        return BusConfig.from_env(**overrides)
    except AiwfError as exc:
        fail(str(exc), EXIT_USAGE)


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
