"""`aiwf certs generate`: a CA, Redis's server certificate and one client certificate per identity (bus/certs.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiwf.bus.certs import DEFAULT_HOSTS, generate
from aiwf.bus.errors import ConfigError
from aiwf.bus.server import CERTS_DIR
from aiwf.cli.support import fail, load_config
from aiwf.workers import WORKERS

#: Every identity with a Redis user (cli/acl.py): the workers, the gateway, the CLI and the operator.
IDENTITIES = (*WORKERS, "gateway", "cli", "operator")


def register(app: typer.Typer) -> None:
    """Add the `certs` command group to `app`."""
    certs_app = typer.Typer(no_args_is_help=True, help="Certificates for mutual TLS to Redis.")
    certs_app.command("generate")(certs_generate)
    app.add_typer(certs_app, name="certs")


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def certs_generate(
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Where to write them (default <AIWF_DATA_DIR>/certs).")
    ] = None,
    hosts: Annotated[
        str, typer.Option("--hosts", help="Comma-separated names and IPs the server certificate is valid for.")
    ] = ",".join(DEFAULT_HOSTS),
    clients: Annotated[
        str, typer.Option("--clients", help="Comma-separated identities that get a client certificate.")
    ] = ",".join(IDENTITIES),
) -> None:
    """Write ca.crt/ca.key, server.crt/server.key and <identity>.crt/.key (keys 0400); existing files are kept."""

    target = directory or load_config().data_dir / CERTS_DIR
    try:
        written = generate(target, _split(hosts), _split(clients))
    except (ConfigError, OSError, ValueError) as exc:
        fail(f"cannot write certificates: {exc}")
    for path in written:
        print(path)
