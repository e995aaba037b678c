"""Refresh tokens: opaque random strings grouped in families, rotated on use, revoked as a family on reuse.

A token reads ``rt1.<family id>.<random>``; only its SHA-256 is ever stored.
Using the current token of a family rotates it (the old one becomes *used*);
presenting a used token again means it was copied, so the whole family is
revoked (OAuth 2.0 Security BCP, RFC 9700 section 4.14.2).
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, replace
from typing import Final

__all__ = [
    "MAX_ROTATIONS",
    "REFRESH_TTL_S",
    "IssuedRefreshToken",
    "RefreshCheck",
    "RefreshFamily",
    "new_refresh_token",
    "parse_refresh_token",
]

#: A family (one login) lasts 14 days, however often it is rotated; then the user logs in again.
REFRESH_TTL_S: Final = 14 * 24 * 3600
#: Bound on rotations (and stored used hashes) per family; past it the family counts as expired.
MAX_ROTATIONS: Final = 5_000
_TOKEN_RE: Final = re.compile(r"rt1\.([0-9a-f]{32})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    """A new refresh token: ``token`` goes to the client once, ``token_hash`` is what gets stored."""

    token: str
    family_id: str
    token_hash: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token(family_id: str | None = None) -> IssuedRefreshToken:
    """A fresh 256-bit refresh token, in ``family_id`` or in a new family."""
    family = family_id or uuid.uuid4().hex
    token = f"rt1.{family}.{secrets.token_urlsafe(32)}"
    return IssuedRefreshToken(token=token, family_id=family, token_hash=_hash(token))


def parse_refresh_token(token: str) -> tuple[str, str] | None:
    """``(family_id, token_hash)`` of a well-formed token, or None for anything else."""
    if not isinstance(token, str) or len(token) > 128:  # real tokens are 80 chars
        return None
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        return None
    return match.group(1), _hash(token)


class RefreshCheck(enum.Enum):
    """What presenting a token to its family means."""

    CURRENT = "current"
    """The family's live token: rotate it."""
    REUSED = "reused"
    """A token already rotated away: it leaked, revoke the family."""
    EXPIRED = "expired"
    """The family outlived its lifetime or rotation budget: log in again."""
    UNKNOWN = "unknown"
    """Not a token this family ever issued."""


@dataclass(frozen=True, slots=True)
class RefreshFamily:
    """The refresh tokens descending from one login."""

    family_id: str
    current_hash: str
    created_at: float
    expires_at: float
    used_hashes: frozenset[str] = frozenset()

    def check(self, token_hash: str, now: float) -> RefreshCheck:
        """Classify a presented token hash at ``now``; reuse wins over expiry so leaks are always acted on."""
        if token_hash in self.used_hashes:
            return RefreshCheck.REUSED
        if token_hash != self.current_hash:
            return RefreshCheck.UNKNOWN
        if now >= self.expires_at or len(self.used_hashes) >= MAX_ROTATIONS:
            return RefreshCheck.EXPIRED
        return RefreshCheck.CURRENT

    def rotated(self, new_hash: str) -> RefreshFamily:
        """This family after its current token was exchanged for ``new_hash``."""
        return replace(self, current_hash=new_hash, used_hashes=self.used_hashes | {self.current_hash})
