"""The registry: (type, version) -> model, the upcasters between versions, and parsing.

    @event("documents.document.uploaded", version=2)
    class DocumentUploaded(Event): ...

    @upcaster("documents.document.uploaded", from_version=1)
    def _v1_to_v2(payload: dict) -> dict: ...

`parse(type, version, payload)` upcasts one step at a time to the newest version and
validates there, so a handler only ever sees the newest model.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import ValidationError

from aiwf.schemas.base import Event
from aiwf.schemas.errors import (
    InvalidPayload,
    RegistryConflict,
    UnknownEventType,
    UnsupportedVersion,
)
from aiwf.schemas.secrets import SecretUnsealError, default_keyring, secret_field_names, unseal_fields

E = TypeVar("E", bound=type[Event])
Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
# Past tense is checked by the usual "-ed" ending; these irregular forms are also accepted.
IRREGULAR_PAST = frozenset(
    {
        "sent",
        "fell_back",  # a phrasal verb: ops.release.fell_back
        "built",
        "made",
        "done",
        "begun",
        "run",
        "taken",
        "written",
        "given",
        "read",
        "set",
        "put",
        "lost",
        "found",
        "held",
        "kept",
        "left",
        "paid",
        "sold",
        "told",
        "won",
    }
)


class Compat(StrEnum):
    """Which readers a schema change must not break, declared per event type."""

    BACKWARD = "BACKWARD"
    """New readers read old events (the default: old versions are upcast)."""
    FORWARD = "FORWARD"
    """Old readers read new events: deploy writers before readers."""
    FULL = "FULL"
    """Both: a published version is frozen."""


@dataclass
class Registry:
    """Models by (type, version), upcasters by (type, from_version), compat by type."""

    models: dict[tuple[str, int], type[Event]] = field(default_factory=dict)
    upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)
    compat: dict[str, Compat] = field(default_factory=dict)
    #: The newest model per type, kept on register: looked up for every event read.
    newest: dict[str, tuple[int, type[Event]]] = field(default_factory=dict)

    def register(self, model: type[Event], type_: str, version: int, compat: Compat) -> None:
        """Add a model; refuses malformed type names and a second model for one (type, version)."""
        check_type_name(type_)
        if version < 1:
            raise RegistryConflict(f"{type_}: version must be >= 1, got {version}")
        existing = self.models.get((type_, version))
        if existing is not None and existing.__qualname__ != model.__qualname__:
            raise RegistryConflict(f"{type_} v{version} is already registered by {existing.__qualname__}")
        self.models[(type_, version)] = model
        self.compat[type_] = compat
        if version >= self.newest.get(type_, (0, model))[0]:
            self.newest[type_] = (version, model)

    def add_upcaster(self, type_: str, from_version: int, fn: Upcaster) -> None:
        """Add the one-step upcaster from `from_version` to `from_version + 1`."""
        if (type_, from_version) in self.upcasters:
            raise RegistryConflict(f"{type_}: an upcaster from v{from_version} already exists")
        self.upcasters[(type_, from_version)] = fn

    def types(self) -> list[str]:
        """Every registered type, sorted."""
        return sorted({t for t, _ in self.models})

    def versions(self, type_: str) -> list[int]:
        """Registered versions of one type, ascending."""
        return sorted(v for t, v in self.models if t == type_)

    def latest(self, type_: str) -> type[Event]:
        """The newest model of a type; UnknownEventType when there is none."""
        newest = self.newest.get(type_)
        if newest is None:
            close = difflib.get_close_matches(type_, self.types(), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else f"{len(self.types())} types are registered"
            raise UnknownEventType(f"unknown event type {type_!r}; {hint} (see `aiwf schemas ls`)")
        return newest[1]

    def upcast(self, type_: str, version: int, payload: Payload) -> tuple[int, Payload]:
        """Apply one-step upcasters until the newest version; returns (version, payload)."""
        self.latest(type_)  # UnknownEventType first
        newest = self.newest[type_][0]
        if version > newest or version < 1:
            raise UnsupportedVersion(
                f"{type_} v{version} is not supported (newest known is v{newest}); upgrade this reader"
            )
        while version < newest:
            step = self.upcasters.get((type_, version))
            if step is None:
                raise UnsupportedVersion(
                    f"{type_} v{version} cannot be read: no upcaster from v{version} to v{version + 1}"
                )
            payload = step(dict(payload))
            version += 1
        return version, payload

    def parse(self, type_: str, version: int, payload: Payload, *, reader: str | None = None) -> Event:
        """Upcast then validate: the newest model, or InvalidPayload naming the bad fields.

        When `reader` is the service the model's secrets are sealed for, they are unsealed
        first; any other reader gets the sealed text, which it cannot open.
        """
        version, payload = self.upcast(type_, version, payload)
        model = self.models[(type_, version)]
        sealed = any(payload.get(name) is not None for name in model.event_secret_fields)
        if sealed and reader is not None and reader == model.recipient():
            payload = _unsealed(model, payload, reader)
        try:
            return model.model_validate(payload)
        except ValidationError as exc:
            raise InvalidPayload(f"{type_} v{version}: {describe_validation_error(exc)}") from None

    def __iter__(self) -> Iterator[tuple[str, int, type[Event]]]:
        for (type_, version), model in sorted(self.models.items()):
            yield type_, version, model


def _unsealed(model: type[Event], payload: Payload, reader: str) -> Payload:
    try:
        return unseal_fields(payload, model.event_secret_fields, default_keyring().opening_keys(reader))
    except SecretUnsealError as exc:
        raise InvalidPayload(f"{model.event_type}: {exc}") from None


def check_type_name(type_: str) -> None:
    """Refuse a type that is not `<domain>.<entity>.<past-tense verb>`."""
    if not TYPE_PATTERN.match(type_):
        raise RegistryConflict(f"event type {type_!r} must look like '<domain>.<entity>.<past-tense verb>'")
    verb = type_.rsplit(".", 1)[1]
    if not (verb.endswith("ed") or verb in IRREGULAR_PAST):
        raise RegistryConflict(f"event type {type_!r}: {verb!r} is not a past-tense verb (events state facts)")


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each bad field and why, e.g. `size: Input should be a valid integer`."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


REGISTRY = Registry()
"""The process-wide registry that `@event` and `@upcaster` write to."""


def event(type_: str, *, version: int = 1, compat: Compat = Compat.BACKWARD) -> Callable[[E], E]:
    """Class decorator: give an Event model its wire identity and register it."""

    def wrap(model: E) -> E:
        model.event_type = type_
        model.event_version = version
        model.event_secret_fields = frozenset(secret_field_names(model))
        REGISTRY.register(model, type_, version, compat)
        return model

    return wrap


def upcaster(type_: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Function decorator: a pure dict -> dict step from `from_version` to the next."""

    def wrap(fn: Upcaster) -> Upcaster:
        REGISTRY.add_upcaster(type_, from_version, fn)
        return fn

    return wrap
