"""A user's state: rebuilt from its domain events, snapshotted as plain data.

Domain events are plain dicts ``{"type": <name>, "at": <now>, ...}``; raw tokens and
passwords never appear in them, only Argon2 and SHA-256 hashes. ``apply`` is pure: no
clock, no I/O; the same events always give the same state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, Self

from aiwf.workers.auth.errors import InvalidUserEvent
from aiwf.workers.auth.lockout import MAX_TRACKED_FAILURES
from aiwf.workers.auth.refresh import RefreshFamily

__all__ = [
    "EVENT_TYPES",
    "LOCKED",
    "LOGIN_FAILED",
    "LOGIN_SUCCEEDED",
    "PASSWORD_CHANGED",
    "REFRESH_ROTATED",
    "REGISTERED",
    "TOKENS_REVOKED",
    "UserState",
]

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


def _need(event: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = event.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        msg = f"user event {event.get('type')!r} has no valid {name!r}"
        raise InvalidUserEvent(msg)
    return value


class UserState:
    """A user account's state, rebuilt from its events in order (the commands live in `User`)."""

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
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> Self:
        """Replay ``events`` in order."""
        user = cls()
        for event in events:
            user.apply(event)
        return user

    @property
    def registered(self) -> bool:
        """True once a ``registered`` event has been applied."""
        return self.user_id is not None

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
        user = type(self)()
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
