"""auth.token.revocation_requested and auth.password.change_requested: the requests that end logins.

auth.token.revocation_requested -> auth.tokens.revoked | auth.token.revocation_failed
auth.password.change_requested  -> auth.password.changed (+ auth.tokens.revoked) | auth.password.change_failed
"""

from __future__ import annotations

import asyncio
import time

from aiwf.bus import Context, Decision
from aiwf.schemas import Event
from aiwf.schemas.events.auth import (
    PasswordChanged,
    PasswordChangeFailed,
    PasswordChangeRequested,
    TokenRevocationFailed,
    TokenRevocationRequested,
    TokensRevoked,
)
from aiwf.workers.auth.errors import WeakPassword
from aiwf.workers.auth.lookup import announced, user_by_token
from aiwf.workers.auth.outcome import Rejection
from aiwf.workers.auth.runtime import AuthDeps

__all__ = ["on_password_change", "on_revocation"]


async def on_revocation(event: TokenRevocationRequested, ctx: Context) -> Decision | list[Event]:
    """Revoke the token's family, or every family of its user; a token of no login is refused."""
    deps = ctx.dep(AuthDeps)
    token = event.refresh_token.get_secret_value()
    agg = await user_by_token(deps, token)
    now = time.time()
    checked = agg.user.revoke(token, now=now) if agg else None
    if agg is None or checked is None or not checked.ok:
        return [TokenRevocationFailed(reason="invalid")]
    outcome = agg.user.revoke(None, now=now) if event.everywhere else checked
    agg.record_all(outcome.events)
    events = announced(agg.id, outcome.events) or [TokensRevoked(user_id=agg.id, families=0, reason="logout")]
    return Decision(events=events, appends=deps.users.stage(agg, cause=ctx.envelope))


async def on_password_change(event: PasswordChangeRequested, ctx: Context) -> Decision | list[Event]:
    """Check the current password, store the new hash, revoke every login."""
    deps = ctx.dep(AuthDeps)
    current = event.current_password.get_secret_value()
    new = event.new_password.get_secret_value()
    refused = PasswordChangeFailed(user_id=event.user_id, reason="invalid_credentials")
    agg = await deps.users.load(event.user_id)
    if not agg.user.registered:
        await asyncio.to_thread(deps.hasher.dummy_verify, current)
        return [refused]
    try:
        outcome = await asyncio.to_thread(agg.user.change_password, current, new, ctx=deps.unsigned(), now=time.time())
    except WeakPassword as exc:
        return [PasswordChangeFailed(user_id=event.user_id, reason="weak_password", detail=exc.reason)]
    if outcome.rejected is Rejection.LOCKED:
        await asyncio.to_thread(deps.hasher.dummy_verify, current)
    agg.record_all(outcome.events)
    revoked = announced(agg.id, outcome.events)
    events = [*revoked, refused] if not outcome.ok else [PasswordChanged(user_id=agg.id), *revoked]
    return Decision(events=events, appends=deps.users.stage(agg, cause=ctx.envelope))
