"""auth.login.requested and auth.token.refresh_requested: the two requests that hand out tokens.

    auth.login.requested         -> auth.login.succeeded | auth.login.failed (+ auth.account.locked)
    auth.token.refresh_requested -> auth.token.refreshed | auth.token.refresh_failed (+ auth.tokens.revoked)

Tokens are signed in the handler and leave sealed for the gateway in the same commit that
stores their hashes: a crash before it hands out nothing, a refused commit (another change to
the user came first) is re-run with fresh tokens. A request run again after its decision was
committed (its processed-marker expired) answers `retry`: its tokens left with the first run.
Unknown users, wrong passwords and locked
accounts cost one Argon2 verify each and fail alike.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from pydantic import SecretStr

from aiwf.bus import Context, Decision
from aiwf.bus.decision import Append
from aiwf.schemas import Envelope, Event
from aiwf.schemas.events.auth import (
    LoginFailed,
    LoginRequested,
    LoginSucceeded,
    RefreshFamilyOpened,
    TokenRefreshed,
    TokenRefreshFailed,
    TokenRefreshRequested,
)
from aiwf.workers.auth.lookup import announced, user_by_name, user_by_token
from aiwf.workers.auth.outcome import Outcome, Rejection
from aiwf.workers.auth.runtime import AuthDeps
from aiwf.workers.auth.store import FamilyIndex, UserAggregate

__all__ = ["on_login", "on_refresh"]

_REFRESH_REASONS: Final = {
    Rejection.REFRESH_INVALID: "invalid",
    Rejection.REFRESH_EXPIRED: "expired",
    Rejection.REFRESH_REUSED: "reused",
}


async def on_login(event: LoginRequested, ctx: Context) -> Decision | list[Event]:
    """Verify the password; tokens on success, a lock after too many failures."""
    deps = ctx.dep(AuthDeps)
    password = event.password.get_secret_value()
    agg = await user_by_name(deps, event.username)
    if agg is None:
        await asyncio.to_thread(deps.hasher.dummy_verify, password)
        return [LoginFailed(reason="invalid_credentials")]
    if await deps.users.stored_by(agg, ctx.envelope):  # decided and committed before; its tokens are gone
        return [LoginFailed(reason="retry")]
    engine = await deps.signing()
    outcome = await asyncio.to_thread(agg.user.login, password, ctx=engine, now=time.time())
    if outcome.rejected is Rejection.LOCKED:
        await asyncio.to_thread(deps.hasher.dummy_verify, password)
    appends = _staged(deps, agg, outcome, ctx.envelope)
    events, tokens = announced(agg.id, outcome.events), outcome.tokens
    if tokens is None:
        return Decision(events=[*events, LoginFailed(reason="invalid_credentials")], appends=appends)
    succeeded = LoginSucceeded(
        user_id=agg.id,
        access_token=SecretStr(tokens.access_token),
        refresh_token=SecretStr(tokens.refresh_token),
        expires_at=tokens.access_expires_at,
        refresh_expires_at=tokens.refresh_expires_at,
    )
    return Decision(events=[*events, succeeded], appends=appends)


def _staged(deps: AuthDeps, agg: UserAggregate, outcome: Outcome, cause: Envelope) -> list[Append]:
    """The user's new events, and the new refresh family's owner when a login opened one."""
    appends = []
    if outcome.tokens is not None and outcome.tokens.family_id not in agg.user.families:
        family = FamilyIndex(outcome.tokens.family_id)
        family.record(RefreshFamilyOpened(family_id=family.id, user_id=agg.id))
        appends += deps.families.stage(family, cause=cause)
    agg.record_all(outcome.events)
    return [*appends, *deps.users.stage(agg, cause=cause)]


async def on_refresh(event: TokenRefreshRequested, ctx: Context) -> Decision | list[Event]:
    """Rotate the family's current token; a used token revokes its whole family."""
    deps = ctx.dep(AuthDeps)
    token = event.refresh_token.get_secret_value()
    agg = await user_by_token(deps, token)
    if agg is None:
        return [TokenRefreshFailed(reason="invalid")]
    if await deps.users.stored_by(agg, ctx.envelope):
        return [TokenRefreshFailed(reason="retry")]
    outcome = agg.user.refresh(token, ctx=await deps.signing(), now=time.time())
    appends = _staged(deps, agg, outcome, ctx.envelope)
    revoked = announced(agg.id, outcome.events)
    if outcome.rejected is not None or outcome.tokens is None:
        reason = _REFRESH_REASONS.get(outcome.rejected or Rejection.REFRESH_INVALID, "invalid")
        return Decision(events=[*revoked, TokenRefreshFailed(reason=reason)], appends=appends)
    refreshed = TokenRefreshed(
        user_id=agg.id,
        access_token=SecretStr(outcome.tokens.access_token),
        refresh_token=SecretStr(outcome.tokens.refresh_token),
        expires_at=outcome.tokens.access_expires_at,
        refresh_expires_at=outcome.tokens.refresh_expires_at,
    )
    return Decision(events=[*revoked, refreshed], appends=appends)
