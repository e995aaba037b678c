"""`Envelope`: the one wrapper every event travels in, on the wire and in the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from aiwf.schemas.base import Event
from aiwf.schemas.ids import new_id
from aiwf.schemas.secrets import default_keyring, seal_context

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


_ALL_FIELDS = frozenset(("id", "type", "version", "occurred_at", "producer", "correlation_id",
                         "causation_id", "traceparent", "payload"))


def _trusted(cls: type[Envelope], values: dict[str, Any]) -> Envelope:
    """An Envelope from values this module built and validated itself, without validating again.

    What pydantic's model_construct does, at a quarter of its cost (it is on the per-event
    path of every publish and every handler output); tests/test_schemas.py checks the two
    stay equal, so a pydantic change that breaks this fails there first.
    """
    env = cls.__new__(cls)
    object.__setattr__(env, "__dict__", values)
    object.__setattr__(env, "__pydantic_fields_set__", set(_ALL_FIELDS))
    object.__setattr__(env, "__pydantic_extra__", None)
    object.__setattr__(env, "__pydantic_private__", None)
    return env


def dump_payload(event: Event) -> dict[str, Any]:
    """The event as JSON data, its Secret fields sealed for the recipient service."""
    if all(getattr(event, name) is None for name in event.event_secret_fields):
        return event.model_dump(mode="json")  # nothing to seal (an optional secret left out): no key needed
    key = default_keyring().public_key(event.recipient())
    return event.model_dump(mode="json", context=seal_context(key))


class Envelope(BaseModel):
    """An event with its identity, causality and trace context.

    `id` is a UUIDv7: unique, sortable by time, and kept across retries and DLQ replays, so it
    is the key of idempotency (never the Redis stream id, which differs per XADD).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: Id
    type: Annotated[str, StringConstraints(max_length=200)]
    version: Annotated[int, Field(ge=1, le=10_000)]
    occurred_at: datetime
    producer: Annotated[str, StringConstraints(max_length=200)]
    correlation_id: Id
    causation_id: Id | None = None
    traceparent: Annotated[str, StringConstraints(pattern=TRACEPARENT)] | None = None
    payload: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        event: Event,
        *,
        producer: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        event_id: str | None = None,
    ) -> Envelope:
        """Wrap a validated model. A new causal chain starts with correlation_id = its own id."""
        eid = event_id or new_id()
        return _trusted(cls, {
            "id": eid,
            "type": event.event_type,
            "version": event.event_version,
            "occurred_at": datetime.now(UTC),
            "producer": producer,
            "correlation_id": correlation_id or eid,
            "causation_id": causation_id,
            "traceparent": traceparent,
            "payload": dump_payload(event),
        })

    def caused(self, event: Event, *, producer: str, traceparent: str | None = None) -> Envelope:
        """Wrap an event caused by this one: same correlation id, causation id = this id."""
        return Envelope.wrap(
            event,
            producer=producer,
            correlation_id=self.correlation_id,
            causation_id=self.id,
            traceparent=traceparent or self.traceparent,
        )
