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

import time
from dataclasses import dataclass
from typing import Final

from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.store import EventStore, Repository
from aiwf.workers.auth.passwords import PasswordHasher
from aiwf.workers.auth.settings import AuthServiceSettings
from aiwf.workers.auth.signing import SigningKeys
from aiwf.workers.auth.store import FamilyIndex, UserAggregate, UsernameIndex
from aiwf.workers.auth.tokens import KeyRing
from aiwf.workers.auth.user import AuthContext, AuthSettings

__all__ = ["Runtime", "Settings"]


@dataclass(frozen=True)
class Settings:
    """The engine's settings plus the service's own (rotation, snapshots)."""

    auth: AuthSettings
    rotate_every_s: float
    grace_s: float
    snapshot_every: int

    @classmethod
    def from_env(cls) -> Settings:
        """Read AIWF_AUTH_* (workers/auth/settings.py); ConfigError naming the variable when one is impossible."""
        env = AuthServiceSettings.from_env()
        return cls(
            auth=env.engine(), rotate_every_s=env.key_rotate_s, grace_s=env.grace_s, snapshot_every=env.snapshot_every
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
