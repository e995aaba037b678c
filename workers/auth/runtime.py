"""What the auth handlers share: settings from the environment, the store, repositories, signing keys.

Settings (seconds unless said otherwise):

    AIWF_AUTH_ISSUER / AIWF_AUTH_AUDIENCE      token iss / aud (default aiwf / aiwf)
    AIWF_AUTH_ACCESS_TTL                       access-token lifetime (900)
    AIWF_AUTH_REFRESH_TTL                      refresh-family lifetime (14 days)
    AIWF_AUTH_LOCKOUT_FAILURES                 failed logins that lock (5) ...
    AIWF_AUTH_LOCKOUT_WINDOW                   ... within this window (900)
    AIWF_AUTH_LOCKOUT_COOLDOWN                 how long the lock lasts (900)
    AIWF_AUTH_KEY_ROTATE                       a signing key signs this long (7 days)
    AIWF_AUTH_KEY_GRACE                        a replaced key keeps verifying (access TTL + 300)
    AIWF_AUTH_SNAPSHOT_EVERY                   user snapshot every N events (50)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Final

from aiwf.bus.config import BusConfig, env_number
from aiwf.bus.connection import Redis
from aiwf.bus.errors import ConfigError
from aiwf.bus.store import EventStore, Repository
from aiwf.workers.auth.lockout import LockoutPolicy
from aiwf.workers.auth.passwords import PasswordHasher
from aiwf.workers.auth.refresh import REFRESH_TTL_S
from aiwf.workers.auth.signing import SigningKeys
from aiwf.workers.auth.store import FamilyIndex, UserAggregate, UsernameIndex
from aiwf.workers.auth.tokens import ACCESS_TTL_S, KeyRing
from aiwf.workers.auth.user import AuthContext, AuthSettings

__all__ = ["Runtime", "Settings"]

DEFAULT_ROTATE_S: Final = 7 * 24 * 3600


@dataclass(frozen=True)
class Settings:
    """The engine's settings plus the service's own (rotation, snapshots)."""

    auth: AuthSettings
    rotate_every_s: float
    grace_s: float
    snapshot_every: int

    @classmethod
    def from_env(cls) -> Settings:
        """Read AIWF_AUTH_*; ConfigError naming the variable when one is impossible."""
        access = int(env_number("AIWF_AUTH_ACCESS_TTL", ACCESS_TTL_S))
        try:
            auth = AuthSettings(
                issuer=os.environ.get("AIWF_AUTH_ISSUER") or "aiwf",
                audience=os.environ.get("AIWF_AUTH_AUDIENCE") or "aiwf",
                access_ttl_s=access,
                refresh_ttl_s=int(env_number("AIWF_AUTH_REFRESH_TTL", REFRESH_TTL_S)),
                lockout=LockoutPolicy(
                    max_failures=int(env_number("AIWF_AUTH_LOCKOUT_FAILURES", 5)),
                    window_s=env_number("AIWF_AUTH_LOCKOUT_WINDOW", 900),
                    cooldown_s=env_number("AIWF_AUTH_LOCKOUT_COOLDOWN", 900),
                ),
            )
        except ValueError as exc:  # AuthConfigError is a ValueError
            raise ConfigError(f"AIWF_AUTH_* settings: {exc}") from None
        snapshot_every = int(env_number("AIWF_AUTH_SNAPSHOT_EVERY", 50))
        if not 1 <= snapshot_every <= 1_000_000:
            raise ConfigError(f"AIWF_AUTH_SNAPSHOT_EVERY must be 1..1000000, got {snapshot_every}")
        return cls(
            auth=auth,
            rotate_every_s=env_number("AIWF_AUTH_KEY_ROTATE", DEFAULT_ROTATE_S),
            grace_s=env_number("AIWF_AUTH_KEY_GRACE", access + 300),
            snapshot_every=snapshot_every,
        )


class Runtime:
    """One Redis client, the event store and its repositories, the signing keys and the hasher."""

    def __init__(self, client: Redis, config: BusConfig, settings: Settings) -> None:
        """Wire everything on `client`; nothing touches Redis until a method is awaited."""
        self.client = client
        self.settings = settings
        self.store = EventStore(client, config)
        self.users = Repository(self.store, UserAggregate, snapshot_every=settings.snapshot_every)
        self.names = Repository(self.store, UsernameIndex)
        self.families = Repository(self.store, FamilyIndex)
        self.hasher = PasswordHasher(max_length=settings.auth.password_policy.max_length)
        self.keys = SigningKeys(
            self.store,
            issuer=settings.auth.issuer,
            audience=settings.auth.audience,
            rotate_every_s=settings.rotate_every_s,
            grace_s=settings.grace_s,
        )

    async def context(self, now: float | None = None) -> AuthContext:
        """The engine's context with the ring to sign with now (rotated first if due)."""
        ring: KeyRing = await self.keys.current(time.time() if now is None else now)
        return AuthContext(self.settings.auth, ring, self.hasher)

    def unsigned(self) -> AuthContext:
        """A context for commands that issue no token: its ring is a throwaway and never signs."""
        return AuthContext(self.settings.auth, _SCRATCH_RING, self.hasher)


_SCRATCH_RING: Final = KeyRing.generate(0.0)
