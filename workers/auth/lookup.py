"""The reads a handler starts with: a user by name or by refresh token, from the event store's index streams.

Reads only. What a handler decides is returned as a Decision and committed by the bus; when
the store moved in between, the commit refuses it and the handler runs again on these reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiwf.schemas import Event
from aiwf.schemas.events.auth import AccountLocked, TokensRevoked
from aiwf.workers.auth.outcome import DomainEvent
from aiwf.workers.auth.refresh import parse_refresh_token
from aiwf.workers.auth.runtime import AuthDeps
from aiwf.workers.auth.store import UserAggregate, username_key

__all__ = ["announced", "user_by_name", "user_by_token"]


async def user_by_name(deps: AuthDeps, username: str) -> UserAggregate | None:
    """The registered user holding `username`, or None (the user's own name must match the claim)."""
    key = username_key(username)
    claim = await deps.names.load(key)
    if claim.user_id is None:
        return None
    agg = await deps.users.load(claim.user_id)
    name = agg.user.username
    return agg if name is not None and username_key(name) == key else None


async def user_by_token(deps: AuthDeps, token: str) -> UserAggregate | None:
    """The user whose refresh family `token` names, or None for a malformed or unknown token."""
    parsed = parse_refresh_token(token)
    if parsed is None:
        return None
    family = await deps.families.load(parsed[0])
    if family.user_id is None:
        return None
    agg = await deps.users.load(family.user_id)
    return agg if agg.user.registered else None


def announced(user_id: str, events: Sequence[DomainEvent]) -> list[Event]:
    """The public side effects among the decided events: locks and revocations."""
    out: list[Event] = []
    for event in events:
        if event["type"] == "locked":
            out.append(AccountLocked(user_id=user_id, until=event["until"]))
        elif event["type"] == "tokens_revoked":
            out.append(TokensRevoked(user_id=user_id, families=len(event["family_ids"]), reason=event["reason"]))
    return out
