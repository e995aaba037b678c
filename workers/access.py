"""What each built-in service emits and keeps, for its Redis ACL user (bus/acl.py; `aiwf acl generate`).

Subscriptions say what a service reads; this table says the rest: the event types it may
emit (patterns over the registry: their domains' streams are what it may append to), the
event-store categories it keeps, and any keys of its own. `tests/security` runs each
service's flow under the user made from it, so a missing entry shows up as NOPERM there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aiwf.bus import keys
from aiwf.bus.acl import Grant, service_grant
from aiwf.workers import WORKERS, load

__all__ = ["ACCESS", "Access", "grant"]


@dataclass(frozen=True)
class Access:
    """A service's outputs and state beyond its subscriptions."""

    #: fnmatch patterns of the event types it emits (each must match a registered type).
    emits: tuple[str, ...]
    #: Event-store categories it keeps (bus/store).
    categories: tuple[str, ...] = ()
    #: Other key patterns it owns.
    owns: tuple[str, ...] = ()


ACCESS: Final[dict[str, Access]] = {
    "auth": Access(
        emits=("auth.*",),
        categories=("user", "username", "refresh", "authkeys"),
        owns=(keys.AUTH_JWKS,),
    ),
    "calendar": Access(
        emits=("calendar.occurrence.*", "calendar.sync.completed", "calendar.sync.rejected"),
        categories=("calendar",),
    ),
    "documents": Access(emits=("documents.document.processed", "documents.document.rejected")),
    "llm": Access(emits=("llm.chat.completed", "llm.chat.failed", "llm.chat.streamed")),
    "tts": Access(emits=("tts.speech.synthesized", "tts.speech.rejected")),
    "pipeline": Access(
        emits=("llm.chat.requested", "tts.speech.requested", "pipeline.summary.*"),
        owns=(keys.service_prefix("pipeline") + "*",),
    ),
}


def grant(name: str) -> Grant:
    """The ACL grant of built-in service `name`, from its subscriptions and ACCESS."""
    if name not in WORKERS:
        raise KeyError(f"unknown worker {name!r}; known: {', '.join(WORKERS)}")
    access = ACCESS[name]
    return service_grant(name, load(name).subscriptions, access.emits, access.categories, access.owns)
