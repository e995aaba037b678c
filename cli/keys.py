"""`aiwf keys generate`: the X25519 key pairs that seal secret fields for the services that own them."""

from __future__ import annotations

from typing import Annotated

import typer

from aiwf.cli.support import console, fail, load_events
from aiwf.schemas import REGISTRY
from aiwf.schemas.secrets import SecretError, generate, keys_dir


def register(app: typer.Typer) -> None:
    """Add the `keys` command group to `app`."""
    keys_app = typer.Typer(no_args_is_help=True, help="Keys that seal secret fields for the services that own them.")
    keys_app.command("generate")(keys_generate)
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
