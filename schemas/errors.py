"""Schema errors. Every one is permanent: redelivering the same bytes cannot fix it."""

from __future__ import annotations


class SchemaError(Exception):
    """Base of every schema error; the bus dead-letters these on first delivery."""


class UnknownEventType(SchemaError):
    """Raised when no model is registered for an event type."""


class UnsupportedVersion(SchemaError):
    """Raised when a type is known but not at this version, and no upcaster reaches the newest."""


class MalformedEvent(SchemaError):
    """Raised when bytes are not a well-formed envelope (bad JSON, too large, too deep, missing fields)."""


class InvalidPayload(SchemaError):
    """Raised when a payload does not validate against its registered model."""


class IncompatibleChange(SchemaError):
    """Raised by `aiwf schemas check` when a schema change would break readers."""


class RegistryConflict(SchemaError):
    """Raised when two models claim the same (type, version) or an upcaster is declared twice."""
