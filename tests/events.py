"""Event models used only by the tests (domain `testing`)."""

from __future__ import annotations

from typing import Any, ClassVar

from aiwf.schemas import Event, event, upcaster
from aiwf.schemas.secrets import Secret


@event("testing.item.created", version=1)
class ItemCreatedV1(Event):
    """The first shape: a name only."""

    name: str


@event("testing.item.created", version=2)
class ItemCreated(Event):
    """The newest shape: name split into title, with a quantity."""

    title: str
    quantity: int = 1


@upcaster("testing.item.created", from_version=1)
def _item_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {"title": payload["name"], "quantity": 1}


@event("testing.item.counted", version=1)
class ItemCounted(Event):
    """An output event: one per input."""

    source_title: str
    n: int


@event("testing.login.attempted", version=1)
class LoginAttempted(Event):
    """Carries a secret sealed for the `tests` service (the harness's service name)."""

    secret_recipient: ClassVar[str | None] = "tests"
    user: str
    password: Secret


@event("testing.session.opened", version=1)
class SessionOpened(Event):
    """An output with a secret sealed for the `gateway` service."""

    secret_recipient: ClassVar[str | None] = "gateway"
    user: str
    token: Secret
