"""`Envelope`: the one wrapper every event travels in, on the wire and in the store."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from aiwf.schemas.base import Event
from aiwf.schemas.errors import MalformedEvent
from aiwf.schemas.ids import ID_PATTERN, check_id, new_id
from aiwf.schemas.secrets import default_keyring, seal_context

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN)]
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
_TRACEPARENT = re.compile(TRACEPARENT)
#: Headers: free-form metadata for routing and tracing, not a second payload.
MAX_HEADERS = 16
MAX_HEADER_VALUE_CHARS = 1024
#: Keys and values together, UTF-8.
MAX_HEADERS_BYTES = 4096
HEADER_KEY = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_HEADER_KEY = re.compile(HEADER_KEY)


def _headers_size(headers: dict[str, str]) -> dict[str, str]:
    size = sum(len(k.encode()) + len(v.encode()) for k, v in headers.items())
    if size > MAX_HEADERS_BYTES:
        msg = f"headers are {size} bytes; the limit is {MAX_HEADERS_BYTES}"
        raise ValueError(msg)
    return headers


Headers = Annotated[
    dict[
        Annotated[str, StringConstraints(pattern=HEADER_KEY)],
        Annotated[str, StringConstraints(max_length=MAX_HEADER_VALUE_CHARS)],
    ],
    Field(max_length=MAX_HEADERS),
    AfterValidator(_headers_size),
]

_ALL_FIELDS = frozenset(
    (
        "id",
        "type",
        "version",
        "occurred_at",
        "producer",
        "correlation_id",
        "causation_id",
        "traceparent",
        "headers",
        "payload",
    )
)


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """A copy of `headers` if within bounds; MalformedEvent naming the first problem."""
    if not headers:
        return {}
    if len(headers) > MAX_HEADERS:
        raise MalformedEvent(f"{len(headers)} headers; the limit is {MAX_HEADERS}")
    for key, value in headers.items():
        if not isinstance(key, str) or not _HEADER_KEY.fullmatch(key):
            raise MalformedEvent(f"header name {str(key)[:70]!r} must match {HEADER_KEY}")
        if not isinstance(value, str):
            raise MalformedEvent(f"header {key!r} must be a string, got {type(value).__name__}")
        if len(value) > MAX_HEADER_VALUE_CHARS:
            raise MalformedEvent(f"header {key!r} is {len(value)} characters; the limit is {MAX_HEADER_VALUE_CHARS}")
    try:
        return _headers_size(dict(headers))
    except ValueError as exc:
        raise MalformedEvent(str(exc)) from None


def _checked_ids(
    event_id: str | None, correlation_id: str | None, causation_id: str | None, traceparent: str | None
) -> None:
    """What a caller hands to wrap is held to the envelope's own rules (wrap skips pydantic)."""
    if event_id is not None:
        check_id(event_id, "event id")
    if correlation_id is not None:
        check_id(correlation_id, "correlation id")
    if causation_id is not None:
        check_id(causation_id, "causation id")
    if traceparent is not None and not (isinstance(traceparent, str) and _TRACEPARENT.fullmatch(traceparent)):
        raise MalformedEvent(f"traceparent {str(traceparent)[:80]!r} is not W3C trace context ({TRACEPARENT})")


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


def _built(
    event: Event,
    eid: str,
    producer: str,
    correlation_id: str,
    causation_id: str | None,
    traceparent: str | None,
    headers: dict[str, str],
) -> Envelope:
    """The envelope of `event` from values already checked (see _trusted)."""
    return _trusted(
        Envelope,
        {
            "id": eid,
            "type": event.event_type,
            "version": event.event_version,
            "occurred_at": datetime.now(UTC),
            "producer": producer,
            "correlation_id": correlation_id,
            "causation_id": causation_id,
            "traceparent": traceparent,
            "headers": headers,
            "payload": dump_payload(event),
        },
    )


def dump_payload(event: Event) -> dict[str, Any]:
    """The event as JSON data, its Secret fields sealed for the recipient service."""
    secrets = event.event_secret_fields
    if not secrets or all(getattr(event, name) is None for name in secrets):
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
    #: Free-form metadata, bounded (MAX_HEADERS, MAX_HEADERS_BYTES). Handler outputs do not
    #: inherit it: each event carries the headers its own producer gave it.
    headers: Headers = Field(default_factory=dict)
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
        headers: Mapping[str, str] | None = None,
    ) -> Envelope:
        """Wrap a validated model. A new causal chain starts with correlation_id = its own id.

        Ids, traceparent and headers given here are checked: MalformedEvent says what is wrong.
        """
        _checked_ids(event_id, correlation_id, causation_id, traceparent)
        eid = event_id or new_id()
        return _built(event, eid, producer, correlation_id or eid, causation_id, traceparent, check_headers(headers))

    def caused(self, event: Event, *, producer: str, traceparent: str | None = None) -> Envelope:
        """Wrap an event caused by this one: same correlation id, causation id = this id.

        Headers are not inherited: an output is a new event with its own metadata.
        """
        if traceparent is not None:
            _checked_ids(None, None, None, traceparent)  # this envelope's own ids were checked when it was built
        tp = traceparent or self.traceparent
        return _built(event, new_id(), producer, self.correlation_id, self.id, tp, {})
