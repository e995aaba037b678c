"""Versioned event schemas: the contract between services.

ids.py       new_id(): UUIDv7
base.py      Event: frozen pydantic model, unknown fields refused
envelope.py  Envelope: id, type, version, time, producer, correlation/causation, traceparent, payload
registry.py  @event, @upcaster, REGISTRY.parse(): upcast to the newest, then validate
errors.py    SchemaError and its kinds (all permanent)
export.py    JSON Schema export
compat.py    breaking-change check against the committed snapshot
secrets.py   Secret fields, sealed for their owner; keyring.py its keys and their rotation;
             masking.py what displays show of them
secretfile.py  key and password files, refused when readable beyond 0440
events/      the models of each domain
"""

from aiwf.schemas.base import Event
from aiwf.schemas.envelope import Envelope
from aiwf.schemas.errors import (
    IncompatibleChange,
    InvalidPayload,
    MalformedEvent,
    RegistryConflict,
    SchemaError,
    UnknownEventType,
    UnsupportedVersion,
)
from aiwf.schemas.ids import new_id
from aiwf.schemas.registry import REGISTRY, Compat, Registry, event, upcaster

__all__ = [
    "REGISTRY",
    "Compat",
    "Envelope",
    "Event",
    "IncompatibleChange",
    "InvalidPayload",
    "MalformedEvent",
    "Registry",
    "RegistryConflict",
    "SchemaError",
    "UnknownEventType",
    "UnsupportedVersion",
    "event",
    "new_id",
    "upcaster",
]
