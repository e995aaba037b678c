"""JSON Schema export of the registry: what `aiwf schemas export` prints and the snapshot stores."""

from __future__ import annotations

from typing import Any

from aiwf.schemas.envelope import Envelope
from aiwf.schemas.registry import REGISTRY, Registry

Snapshot = dict[str, Any]


def export(registry: Registry = REGISTRY) -> Snapshot:
    """`{"envelope": schema, "events": {type: {"compat": mode, "versions": {"1": schema}}}}`, sorted."""
    events: dict[str, Any] = {}
    for type_, version, model in registry:
        entry = events.setdefault(type_, {"compat": registry.compat[type_].value, "versions": {}})
        entry["versions"][str(version)] = model.model_json_schema()
        entry["upcasters"] = sorted(f"{v}->{v + 1}" for t, v in registry.upcasters if t == type_)
    return {"envelope": Envelope.model_json_schema(), "events": events}
