"""ops: what the system did to itself — a service falling back to its previous release."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aiwf.schemas.base import Event
from aiwf.schemas.registry import event

ReleaseName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]


@event("ops.release.fell_back", version=1)
class ReleaseFellBack(Event):
    """`service` switched from `from_release` back to `to_release` by itself; `reason` says what tripped it."""

    service: Annotated[str, Field(min_length=1, max_length=128)]
    from_release: ReleaseName
    to_release: ReleaseName
    reason: Annotated[str, Field(max_length=500)]
