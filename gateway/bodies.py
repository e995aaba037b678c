"""Request bodies made from the schemas' own event models, so the edge refuses exactly what the bus would."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, create_model

from aiwf.gateway.exchange import Exchange
from aiwf.schemas import Event

__all__ = ["body_of", "exchange"]


def body_of(event: type[Event], name: str, *, without: frozenset[str]) -> type[BaseModel]:
    """A body model with `event`'s fields (types, bounds, defaults, descriptions) except those in `without`."""
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in event.model_fields.items() if n not in without}
    model: type[BaseModel] = create_model(name, __config__=ConfigDict(extra="forbid", frozen=True), **fields)
    model.__doc__ = event.__doc__
    return model


def exchange(request: Request) -> Exchange:
    """The process's Exchange (a FastAPI dependency)."""
    found: Exchange = request.app.state.exchange
    return found
