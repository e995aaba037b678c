"""`aiwf auth verify TOKEN`: an access token checked offline against the published public keys.

The JWKS comes from `--jwks FILE` or the Redis key the auth service publishes; TOKEN "-" reads
it from stdin, which keeps it out of `ps`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from aiwf.cli.auth_login import login, logout, register_user
from aiwf.cli.support import emit_json, emit_table, fail, run
from aiwf.workers.auth.errors import TokenInvalid
from aiwf.workers.auth.tokens import MAX_TOKEN_CHARS
from aiwf.workers.auth.verify import MAX_JWKS_BYTES, fetch_jwks, parse_jwks, verify

__all__ = ["register", "verify_command"]

TokenArg = Annotated[str, typer.Argument(help='The access token, or "-" to read it from stdin (keeps it out of ps).')]
JwksOpt = Annotated[Path | None, typer.Option("--jwks", help="A JWKS file; default: the keys published in Redis.")]
IssuerOpt = Annotated[str | None, typer.Option("--issuer", help="Expected iss (default: the JWKS's issuer).")]
AudienceOpt = Annotated[str | None, typer.Option("--audience", help="Expected aud (default: the JWKS's audience).")]
Json = Annotated[bool, typer.Option("--json", help="Print the claims as JSON.")]


def verify_command(
    token: TokenArg,
    jwks_file: JwksOpt = None,
    issuer: IssuerOpt = None,
    audience: AudienceOpt = None,
    as_json: Json = False,
) -> None:
    """Verify an access token offline; prints its claims, or exits 1 with the reason it is refused."""
    text = sys.stdin.read(MAX_TOKEN_CHARS + 2).strip() if token == "-" else token  # noqa: S105 - "-" means stdin
    try:
        if jwks_file is not None:
            jwks = parse_jwks(jwks_file.read_bytes()[: MAX_JWKS_BYTES + 1])
        else:
            jwks = run(lambda client, _config: fetch_jwks(client))
        claims = verify(text, jwks, issuer=issuer, audience=audience)
    except TokenInvalid as exc:
        fail(f"token refused: {exc}")
    except OSError as exc:
        fail(f"cannot read {jwks_file}: {exc.strerror}")
    if as_json:
        emit_json({"valid": True, "claims": claims})
        return
    rows = [(k, _shown(k, v)) for k, v in sorted(claims.items())]
    emit_table("valid token", ["claim", "value"], rows)


def _shown(name: str, value: Any) -> str:
    if name in {"exp", "iat", "nbf"} and isinstance(value, int | float):
        return f"{value} ({datetime.fromtimestamp(value, UTC).isoformat(timespec='seconds')})"
    return str(value)


def register(app: typer.Typer) -> None:
    """Add `aiwf auth register|login|logout` (through the auth service) and `aiwf auth verify TOKEN` to `app`."""
    auth = typer.Typer(
        help="Accounts and tokens: register, log in and out through the auth service; verify a token offline.",
        no_args_is_help=True,
    )
    auth.command("register")(register_user)
    auth.command("login")(login)
    auth.command("logout")(logout)
    auth.command("verify")(verify_command)
    app.add_typer(auth, name="auth")
