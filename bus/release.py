"""Releases of a service: which one reads, which one it replaced, and the switches between them.

One hash per service (`keys.release`) holds the active release, the one it replaced (its
fallback), when it was promoted and how long until it is stable. Every instance heartbeats
its release; only instances of the active release read new entries (bus/consume.py asks
`ReleaseGate.reading`), the others stay warm. A switch never moves an entry: the old
release stops reading, finishes and commits what it holds, hands back its scheduled
retries; the new one reads from the same consumer group, whose processed-markers keep each
event effectively-once.

Each switch is one Lua call, so two instances falling back at once switch once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import cast

from aiwf.bus import keys
from aiwf.bus.connection import Redis
from aiwf.bus.errors import Refused
from aiwf.bus.scripts import script

__all__ = [
    "ReleaseRefused",
    "ReleaseState",
    "claim_first",
    "fall_back",
    "promote",
    "read_state",
    "retire",
    "rollback",
]


class ReleaseRefused(Refused):
    """Raised when a promote, rollback or retire would leave the service without a sound release."""


@dataclass(frozen=True)
class ReleaseState:
    """One service's releases as kept in Redis."""

    service: str
    active: str = ""
    previous: str = ""
    promoted_at: float = 0.0
    stable_after_s: float = 0.0
    fell_back_from: str = ""
    fell_back_at: float = 0.0
    fell_back_reason: str = ""
    retired: frozenset[str] = field(default_factory=frozenset)

    def stable(self, now: float | None = None) -> bool:
        """True once the active release ran `stable_after_s` since its promote without a fallback."""
        now = time.time() if now is None else now
        return bool(self.active) and now - self.promoted_at >= self.stable_after_s


def _retired_key(service: str) -> str:
    return keys.release(service) + ":retired"


async def read_state(client: Redis, service: str) -> ReleaseState:
    """The service's release hash (an empty state when no instance ever ran)."""
    raw = cast("dict[bytes, bytes]", await client.hgetall(keys.release(service)))
    got = {k.decode(): v.decode() for k, v in raw.items()}
    retired = cast("set[bytes]", await client.smembers(_retired_key(service)))
    return ReleaseState(
        service=service,
        active=got.get("active", ""),
        previous=got.get("previous", ""),
        promoted_at=float(got.get("promoted_at") or 0),
        stable_after_s=float(got.get("stable_after_s") or 0),
        fell_back_from=got.get("fell_back_from", ""),
        fell_back_at=float(got.get("fell_back_at") or 0),
        fell_back_reason=got.get("fell_back_reason", ""),
        retired=frozenset(r.decode() for r in retired),
    )


async def claim_first(client: Redis, service: str, release: str) -> str:
    """Make `release` active if the service has no active release yet; returns the active one."""
    active = await script(client, "release_claim")(keys=[keys.release(service)], args=[release, str(time.time())])
    return cast("bytes", active).decode()


async def _switch(
    client: Redis, service: str, expect: str, active: str, previous: str, stable_after_s: float, why: str = ""
) -> str:
    reply = await script(client, "release_switch")(
        keys=[keys.release(service), _retired_key(service)],
        args=[
            expect,
            active,
            previous,
            str(time.time()),
            str(stable_after_s),
            "fell_back" if why else "",
            why,
        ],
    )
    return cast("bytes", reply).decode()


async def promote(client: Redis, service: str, release: str, stable_after_s: float) -> ReleaseState:
    """Make `release` active; the active one becomes its fallback."""
    state = await read_state(client, service)
    if state.active == release:
        raise ReleaseRefused(f"{service} release {release} is already active")
    if await _switch(client, service, state.active, release, state.active, stable_after_s) != "ok":
        raise ReleaseRefused(f"{service}: the active release changed meanwhile; look at `aiwf release ls` again")
    return await read_state(client, service)


async def rollback(client: Redis, service: str) -> ReleaseState:
    """Make the fallback active again; the rolled-back release stays warm until retired."""
    state = await read_state(client, service)
    if not state.previous:
        raise ReleaseRefused(f"{service} has no release to roll back to (active: {state.active or 'none'})")
    if await _switch(client, service, state.active, state.previous, "", 0) != "ok":
        raise ReleaseRefused(f"{service}: the active release changed meanwhile; look at `aiwf release ls` again")
    return await read_state(client, service)


async def fall_back(client: Redis, service: str, failing: str, reason: str) -> bool:
    """Switch from `failing` back to its fallback; False if another instance did it first (or nothing to do)."""
    state = await read_state(client, service)
    if state.active != failing or not state.previous:
        return False
    return await _switch(client, service, failing, state.previous, "", 0, reason[:500]) == "ok"


async def retire(client: Redis, service: str, release: str) -> None:
    """Mark `release` retired: its instances stop. Never the active one, nor a fallback before stability."""
    state = await read_state(client, service)
    if release == state.active:
        raise ReleaseRefused(f"{release} is the active release of {service}; promote another first")
    if release == state.previous and not state.stable():
        left = state.promoted_at + state.stable_after_s - time.time()
        raise ReleaseRefused(
            f"{release} is the fallback of {service}'s {state.active}, which is stable in {left:.0f}s; retire it then"
        )
    async with client.pipeline(transaction=True) as pipe:
        pipe.sadd(_retired_key(service), release)
        if release == state.previous:
            pipe.hset(keys.release(service), "previous", "")
        await pipe.execute()
