"""`aiwf acl generate`: a Redis ACL file with one user per service and tool, and a password file per user.

Users: `aiwf-<service>` for each worker (bus/acl.py derives its rules from the subscriptions and
workers/access.py), `aiwf-gateway`, `aiwf-cli` (read-only inspection) and `aiwf-operator`
(publish, `dlq replay|purge`, admin without FLUSHALL/CONFIG/KEYS/DEBUG). The ACL file holds
SHA-256 hashes; the passwords are in `<passwords dir>/<user>` (mode 0400), one file each, reused
when they exist so a running deployment keeps working after a regeneration.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from aiwf.bus import keys
from aiwf.bus.acl import CLI_COMMANDS, OPERATOR_COMMANDS, SCRIPT_COMMANDS, Grant, acl_file, user_name
from aiwf.bus.errors import ConfigError
from aiwf.bus.server import ACL_FILE, PASSWORDS_DIR
from aiwf.cli.support import console, emit_json, emit_table, fail, load_config
from aiwf.schemas.secretfile import read_secret_file
from aiwf.workers import WORKERS
from aiwf.workers.access import grant

__all__ = ["ACL_FILE", "PASSWORDS_DIR", "all_grants", "ensure_acl", "register", "write_acl"]


def gateway_grant() -> Grant:
    """The gateway: publish to and read the streams of the services it fronts, its request records, its
    rate-limit counters, heartbeats, the published JWKS and the calendar agenda (read model and position)."""
    from aiwf.gateway.app import FOLLOWED  # noqa: PLC0415 - FastAPI loads only for this grant
    from aiwf.gateway.ratelimit import LIMITS_PREFIX  # noqa: PLC0415 - as above
    from aiwf.workers.calendar.agenda import AGENDA  # noqa: PLC0415 - as above

    streams = [keys.stream(s) for s in FOLLOWED]
    owns = [keys.gateway_request("*"), f"{LIMITS_PREFIX}*"]
    return Grant(
        user=user_name("gateway"),
        commands=(*CLI_COMMANDS, *SCRIPT_COMMANDS, "hset", "expire", "set", "incrby", "pttl", "del", "zrevrange"),
        owns=tuple(owns),
        reads=(
            *streams,
            *(keys.dead_letters(s) for s in FOLLOWED),
            keys.HEARTBEAT_PATTERN,
            keys.AUTH_JWKS,
            keys.stream(AGENDA.domain),  # its position only; the read model holds the same details
            AGENDA.key("*"),
        ),
        appends=tuple(streams),
        scripts=(*streams, *owns),
        comment=f"the HTTP gateway: publishes to and reads {', '.join(FOLLOWED)}; the agenda, no other store",
    )


def cli_grant() -> Grant:
    """`aiwf tail|streams|health|dlq ls|show`: read every aiwf key, write none."""
    return Grant(
        user=user_name("cli"),
        commands=CLI_COMMANDS,
        reads=(f"{keys.PREFIX}:*",),
        comment="read-only inspection: tail, streams, health, dlq ls|show",
    )


def operator_grant() -> Grant:
    """`aiwf publish`, `dlq replay|purge`, demo, admin: every aiwf key, no server-wide danger."""
    return Grant(
        user=user_name("operator"),
        commands=OPERATOR_COMMANDS,
        owns=(f"{keys.PREFIX}:*",),
        comment="operator: publish, dlq replay|purge, admin (no FLUSHALL, CONFIG, KEYS, DEBUG, SCRIPT FLUSH)",
    )


def all_grants() -> list[Grant]:
    """Every user of a deployment, workers first."""
    return [*(grant(w) for w in WORKERS), gateway_grant(), cli_grant(), operator_grant()]


def _password(directory: Path, user: str) -> str:
    """The user's password file's text, or a new random password written 0400 (never overwritten)."""
    path = directory / user
    if path.exists():
        return read_secret_file(path, "password file")
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(password + "\n")
    return password


def write_acl(out: Path, passwords_dir: Path, grants: Iterable[Grant], *, compat_62: bool = False) -> list[Grant]:
    """Write the ACL file (0600) and any missing password files; the grants written."""
    chosen = list(grants)
    passwords_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = acl_file(((g, _password(passwords_dir, g.user)) for g in chosen), compat_62=compat_62)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
    tmp.replace(out)
    return chosen


def ensure_acl(data_dir: Path, *, compat_62: bool) -> tuple[Path, Path]:
    """`<data_dir>/redis.acl` and its passwords, written when the file is missing; (file, passwords dir)."""
    out, passwords = data_dir / ACL_FILE, data_dir / PASSWORDS_DIR
    if not out.exists():
        write_acl(out, passwords, all_grants(), compat_62=compat_62)
    return out, passwords


def register(app: typer.Typer) -> None:
    """Add the `acl` command group to `app`."""
    acl_app = typer.Typer(no_args_is_help=True, help="Redis ACL users: one per service, the gateway, CLI, operator.")
    acl_app.command("generate")(acl_generate)
    app.add_typer(acl_app, name="acl")


def acl_generate(
    out: Annotated[Path | None, typer.Option("--out", help="ACL file (default <AIWF_DATA_DIR>/redis.acl).")] = None,
    passwords_dir: Annotated[
        Path | None,
        typer.Option("--passwords-dir", help="One password file per user (default <AIWF_DATA_DIR>/redis-passwords)."),
    ] = None,
    compat_62: Annotated[
        bool,
        typer.Option("--redis-6.2", help="Flatten for Redis 6.2 (no selectors, no %R~): coarser, see README."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Write a Redis ACL file (one user per service, gateway, cli, operator) and a 0400 password file per user."""

    config = load_config()
    target = out or config.data_dir / ACL_FILE
    directory = passwords_dir or config.data_dir / PASSWORDS_DIR
    try:
        written = write_acl(target, directory, all_grants(), compat_62=compat_62)
    except (ConfigError, OSError) as exc:
        fail(f"cannot write the ACL: {exc}")
    rows = [{"user": g.user, "password_file": str(directory / g.user), "for": g.comment} for g in written]
    if as_json:
        emit_json({"acl_file": str(target), "users": rows})
        return
    emit_table(f"Redis users in {target}", ["user", "password file", "for"], [list(r.values()) for r in rows])
    console.print(f"load it with: redis-server --aclfile {target}", style="dim")
