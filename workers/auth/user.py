"""The User: its commands check the state and return new events; nothing here stores or publishes.

``User.from_events(history)`` rebuilds state (workers/auth/state.py); a command (``register``,
``login``, ``refresh``, ``revoke``, ``change_password``) checks it and returns an
:class:`Outcome` whose ``events`` the caller stages for the user's stream (expected version =
the version loaded). Nothing here reads a clock: ``now`` is an argument (seconds since the epoch).
"""

from __future__ import annotations

import unicodedata
from typing import Final

from aiwf.workers.auth.errors import AlreadyRegistered, InvalidUsername, NotRegistered, WeakPassword
from aiwf.workers.auth.outcome import AuthContext, AuthSettings, DomainEvent, IssuedTokens, Outcome, Rejection
from aiwf.workers.auth.refresh import RefreshCheck, new_refresh_token, parse_refresh_token
from aiwf.workers.auth.state import (
    EVENT_TYPES,
    LOCKED,
    LOGIN_FAILED,
    LOGIN_SUCCEEDED,
    PASSWORD_CHANGED,
    REFRESH_ROTATED,
    REGISTERED,
    TOKENS_REVOKED,
    UserState,
)
from aiwf.workers.auth.tokens import issue_access_token

__all__ = [
    "EVENT_TYPES",
    "AuthContext",
    "AuthSettings",
    "DomainEvent",
    "IssuedTokens",
    "Outcome",
    "Rejection",
    "User",
]

MAX_USERNAME_CHARS: Final = 254
MAX_USER_ID_CHARS: Final = 128


def _username(raw: str) -> str:
    name = unicodedata.normalize("NFKC", raw).strip()
    if not name or len(name) > MAX_USERNAME_CHARS:
        msg = f"username must be 1..{MAX_USERNAME_CHARS} characters"
        raise InvalidUsername(msg)
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name):
        msg = "username must not contain control characters"
        raise InvalidUsername(msg)
    return name


class User(UserState):
    """A user account, rebuilt from its events; commands return events and never mutate state."""

    def register(self, user_id: str, username: str, password: str, *, ctx: AuthContext, now: float) -> Outcome:
        """Create the account: checks the password policy and hashes the password."""
        if self.registered:
            msg = f"user {self.user_id!r} is already registered"
            raise AlreadyRegistered(msg)
        if not user_id or len(user_id) > MAX_USER_ID_CHARS:
            msg = f"user_id must be 1..{MAX_USER_ID_CHARS} characters"
            raise InvalidUsername(msg)
        name = _username(username)
        ctx.settings.password_policy.check(password)
        event = {
            "type": REGISTERED,
            "at": now,
            "user_id": user_id,
            "username": name,
            "password_hash": ctx.hasher.hash(password),
        }
        return Outcome([event])

    def login(self, password: str, *, ctx: AuthContext, now: float) -> Outcome:
        """Check the password; on success open a new refresh family and issue tokens."""
        stored_hash = self._require_registered()
        if self._locked_at(now):
            return Outcome([], rejected=Rejection.LOCKED, locked_until=self.locked_until)
        if not ctx.hasher.verify(stored_hash, password):
            return self._failed(ctx, now)
        events: list[DomainEvent] = []
        if ctx.hasher.needs_rehash(stored_hash):
            new_hash = ctx.hasher.hash(password)
            events.append({"type": PASSWORD_CHANGED, "at": now, "password_hash": new_hash, "reason": "rehash"})
        live = sorted((f for f in self.families.values() if f.expires_at > now), key=lambda f: f.created_at)
        excess = len(live) - ctx.settings.max_families + 1
        if excess > 0:
            evicted = [f.family_id for f in live[:excess]]
            events.append({"type": TOKENS_REVOKED, "at": now, "family_ids": evicted, "reason": "family_limit"})
        tokens, refresh_hash = self._issue(ctx, now, family_id=None, family_expires_at=now + ctx.settings.refresh_ttl_s)
        events.append(
            {
                "type": LOGIN_SUCCEEDED,
                "at": now,
                "family_id": tokens.family_id,
                "refresh_hash": refresh_hash,
                "refresh_expires_at": tokens.refresh_expires_at,
                "access_jti": tokens.access_jti,
            },
        )
        return Outcome(events, tokens=tokens)

    def refresh(self, refresh_token: str, *, ctx: AuthContext, now: float) -> Outcome:
        """Exchange the current refresh token of a family for a new one plus an access token."""
        self._require_registered()
        parsed = parse_refresh_token(refresh_token)
        family = self.families.get(parsed[0]) if parsed else None
        if parsed is None or family is None:
            return Outcome([], rejected=Rejection.REFRESH_INVALID)
        check = family.check(parsed[1], now)
        if check is RefreshCheck.UNKNOWN:
            return Outcome([], rejected=Rejection.REFRESH_INVALID)
        if check is RefreshCheck.REUSED:
            revoked = {"type": TOKENS_REVOKED, "at": now, "family_ids": [family.family_id], "reason": "refresh_reuse"}
            return Outcome([revoked], rejected=Rejection.REFRESH_REUSED)
        if check is RefreshCheck.EXPIRED:
            revoked = {"type": TOKENS_REVOKED, "at": now, "family_ids": [family.family_id], "reason": "expired"}
            return Outcome([revoked], rejected=Rejection.REFRESH_EXPIRED)
        tokens, new_hash = self._issue(ctx, now, family_id=family.family_id, family_expires_at=family.expires_at)
        event = {
            "type": REFRESH_ROTATED,
            "at": now,
            "family_id": family.family_id,
            "used_hash": family.current_hash,
            "new_hash": new_hash,
            "access_jti": tokens.access_jti,
        }
        return Outcome([event], tokens=tokens)

    def revoke(self, refresh_token: str | None = None, *, now: float, reason: str = "logout") -> Outcome:
        """Revoke the family of ``refresh_token``, or every family when it is None (log out everywhere)."""
        self._require_registered()
        if refresh_token is None:
            family_ids = list(self.families)
        else:
            parsed = parse_refresh_token(refresh_token)
            family = self.families.get(parsed[0]) if parsed else None
            if parsed is None or family is None or family.check(parsed[1], now) is RefreshCheck.UNKNOWN:
                return Outcome([], rejected=Rejection.REFRESH_INVALID)
            family_ids = [family.family_id]
        if not family_ids:
            return Outcome([])
        return Outcome([{"type": TOKENS_REVOKED, "at": now, "family_ids": family_ids, "reason": reason}])

    def change_password(self, current: str, new: str, *, ctx: AuthContext, now: float) -> Outcome:
        """Replace the password after checking the current one; every refresh family is revoked."""
        stored_hash = self._require_registered()
        ctx.settings.password_policy.check(new)
        if self._locked_at(now):
            return Outcome([], rejected=Rejection.LOCKED, locked_until=self.locked_until)
        if not ctx.hasher.verify(stored_hash, current):
            return self._failed(ctx, now)
        if ctx.hasher.verify(stored_hash, new):
            msg = "the new password equals the current one"
            raise WeakPassword(msg)
        events: list[DomainEvent] = [
            {"type": PASSWORD_CHANGED, "at": now, "password_hash": ctx.hasher.hash(new), "reason": "user"},
        ]
        if self.families:
            family_ids = list(self.families)
            events.append({"type": TOKENS_REVOKED, "at": now, "family_ids": family_ids, "reason": "password_changed"})
        return Outcome(events)

    # ---------------------------------------------------------------- helpers

    def _require_registered(self) -> str:
        if self.password_hash is None:
            msg = "user is not registered"
            raise NotRegistered(msg)
        return self.password_hash

    def _locked_at(self, now: float) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def _failed(self, ctx: AuthContext, now: float) -> Outcome:
        events: list[DomainEvent] = [{"type": LOGIN_FAILED, "at": now}]
        until = ctx.settings.lockout.locked_until([*self.failures, now], now)
        if until is not None:
            events.append({"type": LOCKED, "at": now, "until": until})
        return Outcome(events, rejected=Rejection.BAD_CREDENTIALS, locked_until=until)

    def _issue(
        self,
        ctx: AuthContext,
        now: float,
        *,
        family_id: str | None,
        family_expires_at: float,
    ) -> tuple[IssuedTokens, str]:
        """New access + refresh tokens, and the refresh token's hash for the event."""
        assert self.user_id is not None  # noqa: S101 - type narrowing: callers checked registration
        access = issue_access_token(
            ctx.keys,
            subject=self.user_id,
            issuer=ctx.settings.issuer,
            audience=ctx.settings.audience,
            now=now,
            ttl_s=ctx.settings.access_ttl_s,
        )
        refresh = new_refresh_token(family_id)
        tokens = IssuedTokens(
            access_token=access.token,
            access_jti=access.jti,
            access_expires_at=access.expires_at,
            refresh_token=refresh.token,
            refresh_expires_at=family_expires_at,
            family_id=refresh.family_id,
        )
        return tokens, refresh.token_hash
