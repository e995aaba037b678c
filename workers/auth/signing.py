"""The signing key ring on the event store, rotated on a schedule, its public half published.

The ring (private Ed25519 keys) lives in the store stream `authkeys-ring` as
`auth.signing_keys.rotated` events whose `ring` field is a Secret: the store holds it sealed
for the `auth` service, so a Redis dump shows no private key. Handlers only read the newest
ring (`ring`); each worker's lifespan checks the schedule (`current`), and whichever worker
finds the active key older than the rotation interval appends a rotated ring with expected
version = the one it read, so two workers never both rotate.

The public JWKS (plus `issuer` and `audience` members, which RFC 7517 lets readers ignore) is
SET at `JWKS_KEY` whenever it changes: that is what `workers.auth.verify` and gateways read.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Final

from pydantic import SecretStr

from aiwf.bus import keys
from aiwf.bus.store import ConcurrencyError, EventStore
from aiwf.schemas import Envelope
from aiwf.schemas.events.auth import SigningKeysRotated
from aiwf.schemas.secrets import default_keyring, is_sealed
from aiwf.workers.auth.errors import AuthConfigError
from aiwf.workers.auth.tokens import KeyRing

__all__ = ["JWKS_KEY", "RING_STREAM", "SigningKeys", "jwks_document"]

log = logging.getLogger("aiwf.auth")
RING_STREAM: Final = "authkeys-ring"
#: Where the public JWKS is published (the lead may move this name into bus/keys.py).
JWKS_KEY: Final = keys.AUTH_JWKS  # the keyspace lives in bus/keys.py
#: Rotation attempts when another worker keeps winning the race (each loss means a fresh ring exists).
_ROTATE_ATTEMPTS: Final = 3


def jwks_document(ring: KeyRing, now: float, issuer: str, audience: str) -> dict[str, Any]:
    """The published JWKS: the still-published public keys, with issuer and audience."""
    return {**ring.public_jwks(now), "issuer": issuer, "audience": audience}


@dataclass
class SigningKeys:
    """Loads, rotates and publishes the ring of one auth deployment."""

    store: EventStore
    issuer: str
    audience: str
    #: Seconds an active key signs before a new one takes over.
    rotate_every_s: float
    #: Seconds a replaced key keeps verifying (at least one access-token lifetime).
    grace_s: float
    #: The service whose sealing key protects the ring.
    owner: str = "auth"

    def __post_init__(self) -> None:
        """Refuse a schedule that would retire keys before their tokens expire."""
        if self.rotate_every_s <= 0 or self.grace_s < 0:
            msg = f"need rotate_every_s > 0 and grace_s >= 0, got {self.rotate_every_s}, {self.grace_s}"
            raise AuthConfigError(msg)
        self._ring: KeyRing | None = None
        self._version = 0
        #: False when the newest stored ring opened only with a retired sealing key (re-sealed by `current`).
        self._resealed = True
        self._published: str | None = None

    async def current(self, now: float) -> KeyRing:
        """The ring to sign with at `now`: reloaded if another worker rotated, rotated if due, published."""
        for _ in range(_ROTATE_ATTEMPTS):
            await self._reload()
            ring = self._ring
            if ring is not None and now - ring.active.created_at < self.rotate_every_s:
                if not self._resealed:  # auth's sealing key was rotated: store the ring under the new one
                    try:
                        await self._append(ring, now)
                    except ConcurrencyError:
                        continue
                    self._version, self._resealed = self._version + 1, True
                    log.info("signing keys re-sealed under the current sealing key")
                await self._publish(ring, now)
                return ring
            fresh = KeyRing.generate(now) if ring is None else ring.rotate(now, self.grace_s)
            try:
                await self._append(fresh, now)
            except ConcurrencyError:
                continue  # another worker rotated first: read its ring
            log.info("signing key rotated: active kid %s", fresh.active.kid)
            self._ring, self._version, self._resealed = fresh, self._version + 1, True
            await self._publish(fresh, now)
            return fresh
        # Each lost race means a fresh ring exists; losing them all is contention: let the bus retry.
        raise ConcurrencyError(RING_STREAM, self._version, await self.store.version(RING_STREAM))

    async def ring(self) -> KeyRing:
        """The newest stored ring, read only (a handler's view); AuthConfigError before the first one exists."""
        await self._reload()
        if self._ring is None:
            raise AuthConfigError(f"no signing keys in {RING_STREAM!r} yet; the auth lifespan creates them")
        return self._ring

    async def rotate(self, now: float) -> KeyRing:
        """Rotate now, whatever the schedule (an operator's or a test's call)."""
        await self._reload()
        fresh = KeyRing.generate(now) if self._ring is None else self._ring.rotate(now, self.grace_s)
        await self._append(fresh, now)
        self._ring, self._version, self._resealed = fresh, self._version + 1, True
        await self._publish(fresh, now)
        return fresh

    async def _reload(self) -> None:
        if await self.store.version(RING_STREAM) == self._version:
            return
        newest: str | None = None
        for rec in await self.store.read(RING_STREAM, from_version=self._version + 1):
            if isinstance(rec.event, SigningKeysRotated):
                newest = rec.event.ring.get_secret_value()
            self._version = rec.version
        if newest is not None:  # only the newest ring counts: older ones may be sealed with retired keys
            self._ring = KeyRing.from_json(self._open(newest))
            self._resealed = not is_sealed(newest) or default_keyring().opens_with_current(self.owner, newest)

    def _open(self, value: str) -> str:
        return default_keyring().unseal_for(self.owner, value) if is_sealed(value) else value

    async def _append(self, ring: KeyRing, now: float) -> None:
        event = SigningKeysRotated(at=now, ring=SecretStr(ring.to_json()), jwks=ring.public_jwks(now))
        envelope = Envelope.wrap(event, producer=self.store.config.producer)
        await self.store.append(RING_STREAM, [envelope], expected_version=self._version)

    async def _publish(self, ring: KeyRing, now: float) -> None:
        document = json.dumps(jwks_document(ring, now, self.issuer, self.audience), sort_keys=True)
        if document != self._published:
            await self.store.client.set(JWKS_KEY, document)
            self._published = document
