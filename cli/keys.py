"""`aiwf keys generate|rotate`: the X25519 key pairs that seal secret fields for the services that own them."""

from __future__ import annotations

import re
import sys
from typing import Annotated

import typer

from aiwf.cli.support import console, fail, load_events
from aiwf.schemas import REGISTRY
from aiwf.schemas.errors import ConfigError
from aiwf.schemas.secrets import SecretError, generate, keys_dir, rotate

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def register(app: typer.Typer) -> None:
    """Add the `keys` command group to `app`."""
    keys_app = typer.Typer(no_args_is_help=True, help="Keys that seal secret fields for the services that own them.")
    keys_app.command("generate")(keys_generate)
    keys_app.command("rotate")(keys_rotate)
    app.add_typer(keys_app, name="keys")


def secret_owners() -> list[str]:
    """Every service some registered event seals secrets for."""
    load_events()
    return sorted({model.recipient() for _, _, model in REGISTRY if model.event_secret_fields})


def ensure_keys() -> None:
    """Create missing key pairs for every secret owner under AIWF_KEYS_DIR (never overwrites)."""

    owners = secret_owners()
    root = keys_dir()
    missing = [o for o in owners if not (root / f"{o}.key").exists()]
    if missing:
        generate(root, missing)
        console.print(f"generated secret keys for {', '.join(missing)} in {root}/", style="dim")


def keys_generate(
    services: Annotated[list[str] | None, typer.Argument(help="Services (default: every secret owner).")] = None,
) -> None:
    """Write X25519 key pairs (<service>.key, <service>.pub) under AIWF_KEYS_DIR for sealed secrets."""

    try:
        generate(keys_dir(), services or secret_owners())
    except SecretError as exc:
        fail(str(exc))
    print(keys_dir())


def duration_s(text: str) -> float:
    """`90`, `90s`, `15m`, `12h`, `7d` in seconds; ValueError otherwise."""
    found = _DURATION.fullmatch(text.strip())
    if not found:
        raise ValueError(f"--overlap must be a number with an optional unit s|m|h|d (7d, 12h), got {text!r}")
    return float(found[1]) * _UNIT_S[found[2]]


def keys_rotate(
    service: Annotated[str, typer.Argument(help="The service whose sealing key is replaced.")],
    overlap: Annotated[
        str, typer.Option("--overlap", help="How long the old key still opens: 90s, 15m, 12h, 7d.")
    ] = "7d",
) -> None:
    """New key pair for SERVICE (it seals from now on); the old private key still opens for --overlap."""

    try:
        public, retired = rotate(keys_dir(), service, duration_s(overlap))
    except (SecretError, ConfigError, ValueError, OSError) as exc:
        fail(str(exc))
    print(public)
    print(f"old key retired as {retired}: it opens until then and seals nothing", file=sys.stderr)
