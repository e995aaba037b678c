"""Offline verification of auth access tokens from the published public keys.

    claims = verify(token, jwks)                 # any service or gateway, no call to auth
    aiwf auth verify TOKEN [--json]              # the same from a shell; TOKEN "-" reads stdin

The JWKS comes from `--jwks FILE` or the Redis key the auth service publishes
(`workers.auth.signing.JWKS_KEY`). Issuer and audience default to the document's own
`issuer` / `audience` members, else AIWF_AUTH_ISSUER / AIWF_AUTH_AUDIENCE, else `aiwf`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import typer

from aiwf.workers.auth.errors import TokenInvalid
from aiwf.workers.auth.signing import JWKS_KEY
from aiwf.workers.auth.tokens import MAX_TOKEN_CHARS, verify_access_token

__all__ = ["DEFAULT_AUDIENCE", "DEFAULT_ISSUER", "fetch_jwks", "parse_jwks", "register", "verify"]

DEFAULT_ISSUER: Final = "aiwf"
DEFAULT_AUDIENCE: Final = "aiwf"
#: A JWKS of 64 Ed25519 keys is about 10 KB; refuse anything far larger before parsing it.
MAX_JWKS_BYTES: Final = 256 * 1024


def _default(jwks: Mapping[str, Any], member: str, env: str, fallback: str) -> str:
    value = jwks.get(member)
    return value if isinstance(value, str) and value else os.environ.get(env) or fallback


def verify(
    token: str,
    jwks: Mapping[str, Any],
    *,
    issuer: str | None = None,
    audience: str | None = None,
    now: float | None = None,
    leeway_s: float = 0.0,
) -> dict[str, Any]:
    """The token's claims if an EdDSA signature by a published key, issuer, audience and times check out.

    Raises TokenInvalid (TokenExpired for an expired token) with a one-line reason otherwise.
    """
    return verify_access_token(
        token,
        jwks,
        issuer=issuer or _default(jwks, "issuer", "AIWF_AUTH_ISSUER", DEFAULT_ISSUER),
        audience=audience or _default(jwks, "audience", "AIWF_AUTH_AUDIENCE", DEFAULT_AUDIENCE),
        now=now,
        leeway_s=leeway_s,
    )


def parse_jwks(raw: bytes | str) -> dict[str, Any]:
    """A JWKS document from JSON text; TokenInvalid if it is too large or not a JSON object."""
    if len(raw) > MAX_JWKS_BYTES:
        msg = f"JWKS is {len(raw)} bytes; the limit is {MAX_JWKS_BYTES}"
        raise TokenInvalid(msg)
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        msg = f"JWKS is not valid JSON: {exc}"
        raise TokenInvalid(msg) from None
    if not isinstance(doc, dict):
        msg = "JWKS must be a JSON object with a 'keys' list"
        raise TokenInvalid(msg)
    return doc


async def fetch_jwks(client: Any) -> dict[str, Any]:
    """The JWKS the auth service published in Redis; TokenInvalid when none is there yet."""
    raw = await client.get(JWKS_KEY)
    if raw is None:
        msg = f"no published keys at {JWKS_KEY}; is the auth worker running?"
        raise TokenInvalid(msg)
    return parse_jwks(raw)


# ------------------------------------------------------------------------------ the CLI

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
    from aiwf.bus.cli_support import emit_json, emit_table, fail, run  # noqa: PLC0415 - only the CLI needs the bus

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
    """Add `aiwf auth verify TOKEN [--json] [--jwks FILE] [--issuer I] [--audience A]` to `app`."""
    auth = typer.Typer(help="Auth tokens: verify offline from the published public keys.", no_args_is_help=True)
    auth.command("verify")(verify_command)
    app.add_typer(auth, name="auth")
