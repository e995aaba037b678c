"""`Event`: the base of every versioned event model.

A model is declared once, with its wire identity, by the `@event` decorator in
`schemas.registry`. Models are frozen and refuse unknown fields, so a typo in a
producer is an error at the edge instead of a silently dropped value.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """A versioned event payload. `event_type` and `event_version` are set by `@event`."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_max_length=1_000_000)

    event_type: ClassVar[str]
    event_version: ClassVar[int]
    #: Fields typed `schemas.secrets.Secret`, found by `@event`; sealed on the wire.
    event_secret_fields: ClassVar[frozenset[str]] = frozenset()
    #: The service whose key seals this event's secrets; None means the type's domain.
    secret_recipient: ClassVar[str | None] = None

    @classmethod
    def recipient(cls) -> str:
        """The service that may read this event's secret fields."""
        return cls.secret_recipient or cls.event_type.split(".", 1)[0]
