"""Bearer tokens at the edge: access JWTs issued by the auth service, verified offline from its JWKS.

The JWKS is the document the auth worker publishes in Redis (`workers.auth.signing.JWKS_KEY`);
each process caches it for JWKS_TTL_S and reads it again at once when a token names a key it
does not hold, so a rotated key is accepted on its first use. No call to auth per request.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from aiwf.bus.connection import Redis
from aiwf.workers.auth.errors import TokenInvalid
from aiwf.workers.auth.verify import fetch_jwks, verify

__all__ = ["Jwks", "User", "current_user"]

#: Seconds a process keeps the published JWKS before reading it again.
JWKS_TTL_S = 30.0
_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/login")


class Jwks:
    """The auth service's published keys, cached; read again when a token names an unknown key."""

    def __init__(self, client: Redis, audience: str | None) -> None:
        self._client = client
        self._audience = audience
        self._doc: dict[str, Any] | None = None
        self._read_at = 0.0

    async def _document(self, *, fresh: bool) -> dict[str, Any]:
        if fresh or self._doc is None or time.monotonic() - self._read_at > JWKS_TTL_S:
            self._doc = await fetch_jwks(self._client)
            self._read_at = time.monotonic()
        return self._doc

    async def claims(self, token: str) -> dict[str, Any]:
        """The token's verified claims; TokenInvalid with the reason otherwise."""
        try:
            return verify(token, await self._document(fresh=False), audience=self._audience)
        except TokenInvalid as exc:
            if "unknown or retired signing key" not in str(exc):
                raise
        return verify(token, await self._document(fresh=True), audience=self._audience)  # a rotated key


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": 'Bearer realm="aiwf"'})


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The user id (`sub`) of a valid bearer access token; 401 otherwise (a FastAPI dependency)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("a bearer access token is required (POST /api/v1/auth/login)")
    jwks: Jwks = request.app.state.jwks
    try:
        claims = await jwks.claims(credentials.credentials)
    except TokenInvalid as exc:
        raise _unauthorized(f"token refused: {exc}") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise _unauthorized("token refused: no subject")
    await request.app.state.limits.check("user", subject)
    return subject


User = Annotated[str, Depends(current_user)]
