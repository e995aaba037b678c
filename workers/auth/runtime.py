"""What the auth handlers share, built once by the service's lifespan and handed over as `ctx.dep(AuthDeps)`.

Settings (seconds unless said otherwise; workers/auth/settings.py documents each variable):

    AIWF_AUTH_ISSUER / AIWF_AUTH_AUDIENCE      token iss / aud (default aiwf / aiwf)
    AIWF_AUTH_ACCESS_TTL                       access-token lifetime (900)
    AIWF_AUTH_REFRESH_TTL                      refresh-family lifetime (14 days)
    AIWF_AUTH_LOCKOUT_FAILURES                 failed logins that lock (5) ...
    AIWF_AUTH_LOCKOUT_WINDOW                   ... within this window (900)
    AIWF_AUTH_LOCKOUT_COOLDOWN                 how long the lock lasts (900)
    AIWF_AUTH_KEY_ROTATE                       a signing key signs this long (7 days)
    AIWF_AUTH_KEY_GRACE                        a replaced key keeps verifying (access TTL + 300)
    AIWF_AUTH_SNAPSHOT_EVERY                   user snapshot every N events (50)

The lifespan checks the sealing keys, reads the settings, creates (or loads) the signing keys
and publishes the JWKS before the first event, then rotates the keys on their schedule in the
background: key rotation is the service's own housekeeping, never a side effect of a handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from aiwf.bus import ConfigError
from aiwf.bus.store import EventStore, Repository
from aiwf.bus.worker import Startup
from aiwf.schemas.secrets import KeyringError, default_keyring, keys_dir
from aiwf.workers.auth.passwords import PasswordHasher
from aiwf.workers.auth.settings import AuthServiceSettings
from aiwf.workers.auth.signing import SigningKeys
from aiwf.workers.auth.store import FamilyIndex, UserAggregate, UsernameIndex
from aiwf.workers.auth.tokens import KeyRing
from aiwf.workers.auth.user import AuthContext, AuthSettings

__all__ = ["AuthDeps", "Settings", "check_sealing_keys", "lifespan"]

log = logging.getLogger("aiwf.auth")
#: Key-rotation checks per rotation interval (bounded to 0.05 .. 60 s between checks).
_CHECKS_PER_INTERVAL: Final = 10


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


@dataclass(frozen=True)
class AuthDeps:
    """The event store and its repositories (reads; writes go through a Decision), the keys and the hasher."""

    settings: Settings
    store: EventStore
    users: Repository[UserAggregate]
    names: Repository[UsernameIndex]
    families: Repository[FamilyIndex]
    hasher: PasswordHasher
    keys: SigningKeys

    @classmethod
    def build(cls, store: EventStore, settings: Settings) -> AuthDeps:
        """Wire everything on `store`; nothing touches Redis until a method is awaited."""
        return cls(
            settings=settings,
            store=store,
            users=Repository(store, UserAggregate, snapshot_every=settings.snapshot_every),
            names=Repository(store, UsernameIndex),
            families=Repository(store, FamilyIndex),
            hasher=PasswordHasher(max_length=settings.auth.password_policy.max_length),
            keys=SigningKeys(
                store,
                issuer=settings.auth.issuer,
                audience=settings.auth.audience,
                rotate_every_s=settings.rotate_every_s,
                grace_s=settings.grace_s,
            ),
        )

    async def signing(self) -> AuthContext:
        """The engine's context with the newest stored ring (read only: the lifespan rotates it)."""
        return AuthContext(self.settings.auth, await self.keys.ring(), self.hasher)

    def unsigned(self) -> AuthContext:
        """A context for commands that issue no token: its ring is a throwaway and never signs."""
        return AuthContext(self.settings.auth, _SCRATCH_RING, self.hasher)


_SCRATCH_RING: Final = KeyRing.generate(0.0)


def check_sealing_keys() -> None:
    """ConfigError unless auth can open its requests (auth's private key) and seal tokens (gateway's public key)."""
    ring = default_keyring()
    missing = []
    for need in (lambda: ring.private_key("auth"), lambda: ring.public_key("gateway")):
        try:
            need()
        except KeyringError as exc:
            missing.append(str(exc))
    if missing:
        raise ConfigError(
            f"auth cannot start: {'; '.join(missing)} (or key files in {keys_dir()}). Make them once with: "
            "aiwf keys generate auth gateway"
        )


@contextlib.asynccontextmanager
async def lifespan(startup: Startup) -> AsyncIterator[AuthDeps]:
    """Keys checked, settings read, the JWKS published before the first event; keys rotated until the last."""
    check_sealing_keys()
    deps = AuthDeps.build(startup.event_store(), Settings.from_env())
    await deps.keys.current(time.time())
    every = min(max(deps.settings.rotate_every_s / _CHECKS_PER_INTERVAL, 0.05), 60.0)
    rotation = asyncio.create_task(_rotating(deps.keys, every), name="auth key rotation")
    try:
        yield deps
    finally:
        rotation.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await rotation


async def _rotating(keys: SigningKeys, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await keys.current(time.time())
        except Exception as exc:  # noqa: BLE001 - Redis away: the ring in use keeps signing; try again later
            log.warning("signing-key rotation check failed: %s", exc)
