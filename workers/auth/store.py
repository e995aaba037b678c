"""The auth engine on the event store: the User as a store Aggregate, and the two index streams.

    user-<user_id>           the User's history (auth.history.*), snapshotted
    username-<sha256>        one `auth.username.claimed`, appended with expected version 0:
                             the store refuses a second claim, so two racing registrations
                             of one name cannot both succeed
    refresh-<family_id>      one `auth.refresh_family.opened`: which user a refresh token's
                             family belongs to (the token itself names only its family)

The engine's domain events are plain dicts; `to_model` / `to_dict` translate them to and from
the registered `auth.history.*` models, which is what the store appends and upcasts.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

from aiwf.bus.store import Aggregate
from aiwf.schemas import Event
from aiwf.schemas.events.auth import (
    HistoryLocked,
    HistoryLoginFailed,
    HistoryLoginSucceeded,
    HistoryPasswordChanged,
    HistoryRefreshRotated,
    HistoryRegistered,
    HistoryTokensRevoked,
    RefreshFamilyOpened,
    UsernameClaimed,
)
from aiwf.workers.auth.errors import InvalidUserEvent
from aiwf.workers.auth.user import DomainEvent, User

__all__ = ["FamilyIndex", "UserAggregate", "UsernameIndex", "to_dict", "to_model", "username_key"]

#: Engine event name -> stored model.
MODELS: Final[dict[str, type[Event]]] = {
    "registered": HistoryRegistered,
    "password_changed": HistoryPasswordChanged,
    "login_succeeded": HistoryLoginSucceeded,
    "login_failed": HistoryLoginFailed,
    "locked": HistoryLocked,
    "refresh_rotated": HistoryRefreshRotated,
    "tokens_revoked": HistoryTokensRevoked,
}
_NAMES: Final = {model: name for name, model in MODELS.items()}


def to_model(event: Mapping[str, Any]) -> Event:
    """An engine event dict as its stored model; InvalidUserEvent for an unknown type."""
    model = MODELS.get(str(event.get("type")))
    if model is None:
        msg = f"no stored model for user event {event.get('type')!r}"
        raise InvalidUserEvent(msg)
    return model.model_validate({k: v for k, v in event.items() if k != "type"})


def to_dict(event: Event) -> DomainEvent:
    """A stored model back as the engine's event dict."""
    name = _NAMES.get(type(event))
    if name is None:
        msg = f"{event.event_type} is not a user history event"
        raise InvalidUserEvent(msg)
    return {"type": name, **event.model_dump()}


def username_key(username: str) -> str:
    """The index id of a username: SHA-256 of its NFKC, trimmed, case-folded form (any length, no spaces)."""
    folded = unicodedata.normalize("NFKC", username).strip().casefold()
    return hashlib.sha256(folded.encode()).hexdigest()


class UserAggregate(Aggregate):
    """`user-<id>`: the engine's User, fed by stored `auth.history.*` events."""

    category = "user"
    state_version = 1

    def __init__(self, aggregate_id: str) -> None:
        """An unregistered user."""
        super().__init__(aggregate_id)
        self.user = User()

    def apply(self, event: Event) -> None:
        """Fold one stored event into the engine's state."""
        self.user.apply(to_dict(event))

    def record_all(self, events: list[DomainEvent]) -> None:
        """Queue the engine's decided events for `Repository.save` (applying them)."""
        for event in events:
            self.record(to_model(event))

    def snapshot_state(self) -> dict[str, Any]:
        """The engine's own snapshot (hashes only)."""
        return self.user.snapshot_state()

    def restore_state(self, state: dict[str, Any]) -> None:
        """Restore the engine's snapshot."""
        self.user.restore_state(state)


class UsernameIndex(Aggregate):
    """`username-<sha256>`: the user that claimed a name, or None."""

    category = "username"

    def __init__(self, aggregate_id: str) -> None:
        """Unclaimed."""
        super().__init__(aggregate_id)
        self.user_id: str | None = None

    def apply(self, event: Event) -> None:
        """The first claim wins; nothing else is ever appended (expected version 0)."""
        if isinstance(event, UsernameClaimed) and self.user_id is None:
            self.user_id = event.user_id


class FamilyIndex(Aggregate):
    """`refresh-<family_id>`: the user a refresh family belongs to, or None."""

    category = "refresh"

    def __init__(self, aggregate_id: str) -> None:
        """Unknown family."""
        super().__init__(aggregate_id)
        self.user_id: str | None = None

    def apply(self, event: Event) -> None:
        """Remember the owner."""
        if isinstance(event, RefreshFamilyOpened) and self.user_id is None:
            self.user_id = event.user_id
