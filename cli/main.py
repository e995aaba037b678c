"""The `aiwf` typer app: every command group registered on it, and the one-line error contract.

Each command: --json for machines, a table for people, exit 0 only on success, one line on
stderr for errors (`aiwf: ...`; exit 2 for bad usage).
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from typing import Annotated, Any

import typer

from aiwf.bus.errors import AiwfError
from aiwf.bus.logs import configure_logging
from aiwf.cli import (
    acl,
    alerts,
    auth,
    calendar,
    certs,
    chaos,
    cluster,
    config,
    ctl,
    demo,
    dlq,
    gateway,
    health,
    incidents,
    keys,
    lag,
    load,
    logs,
    publish,
    release,
    schemas,
    streams,
    trace,
    tts,
    up,
)
from aiwf.cli import blobs as blobs_commands
from aiwf.cli import env as env_commands
from aiwf.cli.support import EXIT_USAGE

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="aiwf: AI workflow services on Redis Streams.")
for group in (
    publish,
    schemas,
    keys,
    logs,
    health,
    alerts,
    config,
    up,
    demo,
    dlq,
    streams,
    auth,
    calendar,
    tts,
    gateway,
    incidents,
    trace,
    lag,
    acl,
    certs,
    env_commands,  # env, status
    blobs_commands,
    release,
    ctl,
    chaos,
    load,
    cluster,
):
    group.register(app)


def _show_version(wanted: bool) -> None:
    if wanted:
        print(f"aiwf {version('aiwf')}")
        raise typer.Exit


@app.callback()
def _root(
    _version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """aiwf: AI workflow services on Redis Streams."""


def main() -> None:
    """Console-script entry point: usage errors become one `aiwf:` line and exit 2, like every other error."""
    # Recent typer vendors its own click; find its UsageError through a public subclass.
    usage_error: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    command = typer.main.get_command(app)
    try:
        configure_logging("aiwf")
        code = command.main(standalone_mode=False)
    except AiwfError as exc:  # a bad AIWF_LOG_LEVEL, before any command runs
        print(f"aiwf: {exc}", file=sys.stderr)
        code = 1
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
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
