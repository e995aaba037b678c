"""`aiwf logs`: the lines `aiwf up` collected from every worker, merged in time order."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from aiwf.cli.logread import Follower, Line, LogFilter, history, human
from aiwf.cli.logsink import log_dir
from aiwf.cli.support import EXIT_USAGE, fail, load_config, usage
from aiwf.dlq.filters import parse_since


def register(app: typer.Typer) -> None:
    """Add `logs` to `app`."""
    app.command()(logs)


def logs(
    service: Annotated[
        list[str] | None, typer.Option("--service", help="Only this service's lines (repeatable).")
    ] = None,
    correlation_id: Annotated[
        str | None, typer.Option("--correlation-id", help="Only the lines of one run (its correlation id).")
    ] = None,
    level: Annotated[
        str | None, typer.Option("--level", help="At least this level: debug, info, warning, error, critical.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Lines since: a duration (15m, 2h) or an ISO time (local).")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print the stored JSON lines as they are.")] = False,
) -> None:
    """Every worker's log lines from `<AIWF_DATA_DIR>/logs/` (written by `aiwf up`), oldest first."""
    config = load_config()
    flt = LogFilter(
        services=frozenset(service) if service else None,
        correlation_id=correlation_id,
        min_level=usage(lambda: LogFilter.level_index(level)) if level is not None else 0,
        since=usage(lambda: parse_since(since)) if since is not None else None,
    )
    directory = log_dir(config.data_dir)
    if not directory.is_dir():
        fail(f"no logs in {directory}/: `aiwf up` collects its workers' output there (AIWF_DATA_DIR)")
    if service:
        known = {p.name.split(".log", 1)[0] for p in directory.glob("*.log*")}
        missing = sorted(set(service) - known)
        if missing:
            fail(f"no logs of {', '.join(missing)} in {directory}/; there are: {', '.join(sorted(known))}", EXIT_USAGE)
    try:
        follower = Follower(directory) if follow else None
        upto = follower.skip_to_end() if follower is not None else None
        for line in history(directory, flt, upto):
            _print(line, json_)
        if follower is not None:
            for line in follower.follow(flt):
                _print(line, json_)
    except KeyboardInterrupt:  # how a follow ends
        raise typer.Exit(0) from None
    except BrokenPipeError:  # `aiwf logs | head`
        sys.stderr.close()
        raise typer.Exit(0) from None


def _print(line: Line, json_: bool) -> None:
    sys.stdout.write((line.text if json_ else human(line)) + "\n")
    sys.stdout.flush()
