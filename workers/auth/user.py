"""The User aggregate: state rebuilt from domain events, commands that return new events.

Pure domain code. ``User.from_events(history)`` rebuilds state; a command
(``register``, ``login``, ``refresh``, ``revoke``, ``change_password``) checks
it against that state and returns an :class:`Outcome` whose ``events`` the
caller appends to the user's stream (expected version = ``user.version``) and
then applies. Nothing here stores, publishes or reads a clock: ``now`` is an
argument (seconds since the epoch).

Domain events are plain dicts ``{"type": <name>, "at": <now>, ...}``; raw
tokens and passwords never appear in them, only Argon2 and SHA-256 hashes.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiwf.workers.auth.errors import (
    AlreadyRegistered,
    AuthConfigError,
    InvalidUserEvent,
    InvalidUsername,
    NotRegistered,
    WeakPassword,
)
from aiwf.workers.auth.lockout import MAX_TRACKED_FAILURES, LockoutPolicy
from aiwf.workers.auth.passwords import PasswordHasher, PasswordPolicy
from aiwf.workers.auth.refresh import (
    REFRESH_TTL_S,
    RefreshCheck,
    RefreshFamily,
    new_refresh_token,
    parse_refresh_token,
)
from aiwf.workers.auth.tokens import ACCESS_TTL_S, KeyRing, issue_access_token

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

DomainEvent = dict[str, Any]
"""A user domain event: ``type`` and ``at`` plus the fields of that type."""

REGISTERED: Final = "registered"
PASSWORD_CHANGED: Final = "password_changed"  # noqa: S105 - an event name, not a password
LOGIN_SUCCEEDED: Final = "login_succeeded"
LOGIN_FAILED: Final = "login_failed"
LOCKED: Final = "locked"
REFRESH_ROTATED: Final = "refresh_rotated"
TOKENS_REVOKED: Final = "tokens_revoked"
EVENT_TYPES: Final = frozenset(
    {REGISTERED, PASSWORD_CHANGED, LOGIN_SUCCEEDED, LOGIN_FAILED, LOCKED, REFRESH_ROTATED, TOKENS_REVOKED},
)
MAX_USERNAME_CHARS: Final = 254
MAX_USER_ID_CHARS: Final = 128


@dataclass(frozen=True, slots=True)
class AuthSettings:
    """Issuer, audience and policies of one auth deployment."""

    issuer: str
    audience: str
    #: Access-token lifetime in seconds.
    access_ttl_s: int = ACCESS_TTL_S
    #: Absolute lifetime of a refresh-token family (one login), in seconds.
    refresh_ttl_s: int = REFRESH_TTL_S
    #: Concurrent logins (families) per user; the oldest is revoked beyond this.
    max_families: int = 10
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    password_policy: PasswordPolicy = field(default_factory=PasswordPolicy)

    def __post_init__(self) -> None:
        """Refuse impossible settings."""
        if not self.issuer or not self.audience:
            msg = "issuer and audience must be non-empty"
            raise AuthConfigError(msg)
        if self.access_ttl_s <= 0 or self.refresh_ttl_s <= self.access_ttl_s:
            msg = "need 0 < access_ttl_s < refresh_ttl_s"
            raise AuthConfigError(msg)
        if self.max_families < 1:
            msg = f"max_families must be >= 1, got {self.max_families}"
            raise AuthConfigError(msg)


@dataclass(frozen=True, slots=True)
class AuthContext:
    """What commands need besides state: settings, the signing key ring, the password hasher."""

    settings: AuthSettings
    keys: KeyRing
    hasher: PasswordHasher


class Rejection(enum.Enum):
    """Why a command was refused without raising (the refusal may still record events)."""

    BAD_CREDENTIALS = "bad_credentials"
    """The password did not match; a ``login_failed`` event is recorded."""
    LOCKED = "locked"
    """Too many recent failures; see ``Outcome.locked_until``."""
    REFRESH_INVALID = "refresh_invalid"
    """The refresh token is malformed, unknown, or its family was revoked."""
    REFRESH_EXPIRED = "refresh_expired"
    """The refresh token's family has expired; log in again."""
    REFRESH_REUSED = "refresh_reused"
    """An already-used refresh token was presented; its whole family is revoked."""


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """Tokens for the client; hand them over once, sealed, and never store them."""

    access_token: str
    access_jti: str
    access_expires_at: int
    refresh_token: str
    refresh_expires_at: float
    family_id: str

    def __repr__(self) -> str:
        """Hide the token strings."""
        return f"IssuedTokens(jti={self.access_jti!r}, family={self.family_id!r})"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command decided: events to store, tokens to hand out, or why it refused."""

    events: list[DomainEvent]
    tokens: IssuedTokens | None = None
    rejected: Rejection | None = None
    locked_until: float | None = None

    @property
    def ok(self) -> bool:
        """True when the command was accepted."""
        return self.rejected is None


def _need(event: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = event.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        msg = f"user event {event.get('type')!r} has no valid {name!r}"
        raise InvalidUserEvent(msg)
    return value


def _username(raw: str) -> str:
    name = unicodedata.normalize("NFKC", raw).strip()
    if not name or len(name) > MAX_USERNAME_CHARS:
        msg = f"username must be 1..{MAX_USERNAME_CHARS} characters"
        raise InvalidUsername(msg)
    if any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in name):
        msg = "username must not contain control characters"
        raise InvalidUsername(msg)
    return name


class User:
    """A user account, rebuilt from its events; commands return events and never mutate state."""

    def __init__(self) -> None:
        """An empty, unregistered user at version 0."""
        self.version = 0
        self.user_id: str | None = None
        self.username: str | None = None
        self.password_hash: str | None = None
        self.failures: tuple[float, ...] = ()
        self.locked_until: float | None = None
        self.families: dict[str, RefreshFamily] = {}

    @classmethod
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> User:
        """Replay ``events`` in order."""
        user = cls()
        for event in events:
            user.apply(event)
        return user

    @property
    def registered(self) -> bool:
        """True once a ``registered`` event has been applied."""
        return self.user_id is not None

    # ------------------------------------------------------------------ state

    def apply(self, event: Mapping[str, Any]) -> None:
        """Fold one stored event into the state and bump ``version``."""
        kind = event.get("type")
        at = float(_need(event, "at", (int, float)))
        if kind not in EVENT_TYPES:
            msg = f"unknown user event type {kind!r}"
            raise InvalidUserEvent(msg)
        if (kind == REGISTERED) == self.registered:
            msg = f"user event {kind!r} out of order (registered={self.registered})"
            raise InvalidUserEvent(msg)
        if kind == REGISTERED:
            self.user_id = _need(event, "user_id", str)
            self.username = _need(event, "username", str)
            self.password_hash = _need(event, "password_hash", str)
        elif kind == PASSWORD_CHANGED:
            self.password_hash = _need(event, "password_hash", str)
        elif kind == LOGIN_SUCCEEDED:
            self.failures = ()
            self.families = {fid: f for fid, f in self.families.items() if f.expires_at > at}
            family_id = _need(event, "family_id", str)
            self.families[family_id] = RefreshFamily(
                family_id=family_id,
                current_hash=_need(event, "refresh_hash", str),
                created_at=at,
                expires_at=float(_need(event, "refresh_expires_at", (int, float))),
            )
        elif kind == LOGIN_FAILED:
            self.failures = (*self.failures, at)[-MAX_TRACKED_FAILURES:]
        elif kind == LOCKED:
            self.locked_until = float(_need(event, "until", (int, float)))
            self.failures = ()
        elif kind == REFRESH_ROTATED:
            family = self.families.get(_need(event, "family_id", str))
            if family is None or family.current_hash != _need(event, "used_hash", str):
                msg = "refresh_rotated names a family or token that is not current"
                raise InvalidUserEvent(msg)
            self.families[family.family_id] = family.rotated(_need(event, "new_hash", str))
        else:  # TOKENS_REVOKED
            for family_id in _need(event, "family_ids", list):
                self.families.pop(family_id, None)
        self.version += 1

    def apply_all(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Apply several events in order (after the caller stored them)."""
        for event in events:
            self.apply(event)

    def snapshot_state(self) -> dict[str, Any]:
        """The state as JSON-able data (hashes only), for an event-store snapshot."""
        return {
            "version": self.version,
            "user_id": self.user_id,
            "username": self.username,
            "password_hash": self.password_hash,
            "failures": list(self.failures),
            "locked_until": self.locked_until,
            "families": [
                {
                    "family_id": f.family_id,
                    "current_hash": f.current_hash,
                    "created_at": f.created_at,
                    "expires_at": f.expires_at,
                    "used_hashes": sorted(f.used_hashes),
                }
                for f in self.families.values()
            ],
        }

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Replace this user's state with :meth:`snapshot_state` output; InvalidUserEvent if it is malformed."""
        user = User()
        try:
            user.version = int(state["version"])
            user.user_id = state["user_id"]
            user.username = state["username"]
            user.password_hash = state["password_hash"]
            user.failures = tuple(float(t) for t in state["failures"])[-MAX_TRACKED_FAILURES:]
            locked = state["locked_until"]
            user.locked_until = None if locked is None else float(locked)
            for row in state["families"]:
                family = RefreshFamily(
                    family_id=str(row["family_id"]),
                    current_hash=str(row["current_hash"]),
                    created_at=float(row["created_at"]),
                    expires_at=float(row["expires_at"]),
                    used_hashes=frozenset(str(h) for h in row["used_hashes"]),
                )
                user.families[family.family_id] = family
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"user snapshot is malformed: {exc!r}"
            raise InvalidUserEvent(msg) from exc
        self.__dict__.update(user.__dict__)

    # --------------------------------------------------------------- commands

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
        assert self.user_id is not None  # callers checked registration
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
