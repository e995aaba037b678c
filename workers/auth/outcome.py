"""What the user commands take and give: settings, the context they run in, and their Outcome.

Pure data. A command (workers/auth/user.py) reads the user's state, and returns an Outcome
whose ``events`` the caller stages for the event store and whose ``tokens`` it hands out once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from aiwf.workers.auth.errors import AuthConfigError
from aiwf.workers.auth.lockout import LockoutPolicy
from aiwf.workers.auth.passwords import PasswordHasher, PasswordPolicy
from aiwf.workers.auth.refresh import REFRESH_TTL_S
from aiwf.workers.auth.tokens import ACCESS_TTL_S, KeyRing

__all__ = ["AuthContext", "AuthSettings", "DomainEvent", "IssuedTokens", "Outcome", "Rejection"]

DomainEvent = dict[str, Any]
"""A user domain event: ``type`` and ``at`` plus the fields of that type."""


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Issuer, audience and policies of one auth deployment."""

    issuer: str
    audience: str
    #: Access-token lifetime in seconds.
    access_ttl_s: int = ACCESS_TTL_S
    #: Absolute lifetime of a refresh-token family (one login), in seconds.
    refresh_ttl_s: int = REFRESH_TTL_S
    #: Concurrent logins (families) per user; the oldest is revoked beyond this.
    max_families: int = 10
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)

    def __post_init__(self) -> None:
        """Refuse impossible settings."""
        if not self.issuer or not self.audience:
            msg = "issuer and audience must be non-empty"
            raise AuthConfigError(msg)
        if self.access_ttl_s <= 0 or self.refresh_ttl_s <= self.access_ttl_s:
            msg = "need 0 < access_ttl_s < refresh_ttl_s"
            raise AuthConfigError(msg)
        if self.max_families < 1:
            msg = f"max_families must be >= 1, got {self.max_families}"
            raise AuthConfigError(msg)


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What commands need besides state: settings, the signing key ring, the password hasher."""

    settings: AuthSettings
    keys: KeyRing
    hasher: PasswordHasher


class Rejection(enum.Enum):
    """Why a command was refused without raising (the refusal may still record events)."""

    BAD_CREDENTIALS = "bad_credentials"
    """The password did not match; a ``login_failed`` event is recorded."""
    LOCKED = "locked"
    """Too many recent failures; see ``Outcome.locked_until``."""
    REFRESH_INVALID = "refresh_invalid"
    """The refresh token is malformed, unknown, or its family was revoked."""
    REFRESH_EXPIRED = "refresh_expired"
    """The refresh token's family has expired; log in again."""
    REFRESH_REUSED = "refresh_reused"
    """An already-used refresh token was presented; its whole family is revoked."""


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """Tokens for the client; hand them over once, sealed, and never store them."""

    access_token: str
    access_jti: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: float
    family_id: str

    def __repr__(self) -> str:
        """Hide the token strings."""
        return f"IssuedTokens(jti={self.access_jti!r}, family={self.family_id!r})"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command decided: events to store, tokens to hand out, or why it refused."""

    events: list[DomainEvent]
    tokens: IssuedTokens | None = None
    rejected: Rejection | None = None
    locked_until: float | None = None

    @property
    def ok(self) -> bool:
        """True when the command was accepted."""
        return self.rejected is None
