"""The auth service's settings: AIWF_AUTH_* (token lifetimes, lockout, key rotation, snapshots)."""

from __future__ import annotations

from typing import Final, Self

from pydantic import Field, model_validator

from aiwf.bus.settings import Settings
from aiwf.workers.auth.errors import AuthConfigError
from aiwf.workers.auth.lockout import MAX_TRACKED_FAILURES, LockoutPolicy
from aiwf.workers.auth.refresh import REFRESH_TTL_S
from aiwf.workers.auth.tokens import ACCESS_TTL_S
from aiwf.workers.auth.user import AuthSettings

__all__ = ["DEFAULT_ROTATE_S", "AuthServiceSettings"]

DEFAULT_ROTATE_S: Final = 7 * 24 * 3600


class AuthServiceSettings(Settings):
    """Issuer and audience of the tokens, their lifetimes, the lockout policy and signing-key rotation (seconds)."""

    issuer: str = Field("aiwf", min_length=1, validation_alias="AIWF_AUTH_ISSUER", description="token `iss`")
    audience: str = Field("aiwf", min_length=1, validation_alias="AIWF_AUTH_AUDIENCE", description="token `aud`")
    access_ttl_s: int = Field(
        ACCESS_TTL_S, ge=1, validation_alias="AIWF_AUTH_ACCESS_TTL", description="access-token lifetime"
    )
    refresh_ttl_s: int = Field(
        REFRESH_TTL_S,
        ge=1,
        validation_alias="AIWF_AUTH_REFRESH_TTL",
        description="refresh-token family (one login) lifetime; > AIWF_AUTH_ACCESS_TTL",
    )
    lockout_failures: int = Field(
        5,
        ge=1,
        le=MAX_TRACKED_FAILURES,
        validation_alias="AIWF_AUTH_LOCKOUT_FAILURES",
        description="failed logins within the window that lock an account",
    )
    lockout_window_s: float = Field(
        900.0,
        gt=0,
        validation_alias="AIWF_AUTH_LOCKOUT_WINDOW",
        description="seconds a failed login counts towards the lock",
    )
    lockout_cooldown_s: float = Field(
        900.0, gt=0, validation_alias="AIWF_AUTH_LOCKOUT_COOLDOWN", description="seconds an account stays locked"
    )
    key_rotate_s: float = Field(
        DEFAULT_ROTATE_S,
        gt=0,
        validation_alias="AIWF_AUTH_KEY_ROTATE",
        description="seconds a signing key signs before the next one takes over",
    )
    key_grace_s: float | None = Field(
        None,
        gt=0,
        validation_alias="AIWF_AUTH_KEY_GRACE",
        description="seconds a replaced key keeps verifying; default AIWF_AUTH_ACCESS_TTL + 300",
    )
    snapshot_every: int = Field(
        50,
        ge=1,
        le=1_000_000,
        validation_alias="AIWF_AUTH_SNAPSHOT_EVERY",
        description="a user snapshot every N events",
    )

    @model_validator(mode="after")
    def _engine_accepts(self) -> Self:
        try:
            self.engine()
        except AuthConfigError as exc:
            raise ValueError(f"AIWF_AUTH_* settings: {exc}") from None
        return self

    @property
    def grace_s(self) -> float:
        """AIWF_AUTH_KEY_GRACE, else the access-token lifetime plus five minutes."""
        return self.key_grace_s if self.key_grace_s is not None else self.access_ttl_s + 300

    def engine(self) -> AuthSettings:
        """The auth engine's settings (lifetimes and lockout policy) from these values."""
        return AuthSettings(
            issuer=self.issuer,
            audience=self.audience,
            access_ttl_s=self.access_ttl_s,
            refresh_ttl_s=self.refresh_ttl_s,
            lockout=LockoutPolicy(
                max_failures=self.lockout_failures, window_s=self.lockout_window_s, cooldown_s=self.lockout_cooldown_s
            ),
        )
