"""Offline verification of auth access tokens from the published public keys.

    claims = verify(token, jwks)                 # any service or gateway, no call to auth
    aiwf auth verify TOKEN [--json]              # the same from a shell (cli/auth.py)

The JWKS comes from `--jwks FILE` or the Redis key the auth service publishes
(`workers.auth.signing.JWKS_KEY`). Issuer and audience default to the document's own
`issuer` / `audience` members, else AIWF_AUTH_ISSUER / AIWF_AUTH_AUDIENCE, else `aiwf`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Final

from aiwf.workers.auth.errors import TokenInvalid
from aiwf.workers.auth.signing import JWKS_KEY
from aiwf.workers.auth.tokens import verify_access_token

__all__ = ["DEFAULT_AUDIENCE", "DEFAULT_ISSUER", "MAX_JWKS_BYTES", "fetch_jwks", "parse_jwks", "verify"]

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
