"""`aiwf schemas check`: compare the registry with the committed snapshot, refuse breaking changes.

Readers are protected two ways. A published (type, version) is compared field by field
with its snapshot under the type's compat mode; a new version must come with an upcaster
from the previous one (BACKWARD), or is refused outright for FORWARD/FULL types, whose
old readers cannot read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiwf.schemas.export import Snapshot

BREAKS = {
    # change -> modes it breaks. Models forbid unknown fields, so an added field breaks old readers.
    "added required": {"BACKWARD", "FORWARD", "FULL"},
    "added optional": {"FORWARD", "FULL"},
    "removed": {"BACKWARD", "FULL"},
    "removed required": {"BACKWARD", "FORWARD", "FULL"},
    "now required": {"BACKWARD", "FULL"},
    "now optional": {"FORWARD", "FULL"},
    "type changed": {"BACKWARD", "FORWARD", "FULL"},
    "bounds widened": {"FORWARD", "FULL"},
    "bounds narrowed": {"BACKWARD", "FULL"},
}
UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems")


@dataclass(frozen=True)
class Problem:
    """One breaking change, worded for the person who made it."""

    type: str
    version: str
    message: str

    def __str__(self) -> str:
        return f"{self.type} v{self.version}: {self.message}"


def check(old: Snapshot, new: Snapshot) -> list[Problem]:
    """Every breaking change from `old` to `new`; empty means the change is safe."""
    problems: list[Problem] = []
    for type_, old_entry in old.get("events", {}).items():
        new_entry = new["events"].get(type_)
        if new_entry is None:
            problems.append(Problem(type_, "*", "type removed; events already written could no longer be read"))
            continue
        mode = new_entry["compat"]
        for version, old_schema in old_entry["versions"].items():
            new_schema = new_entry["versions"].get(version)
            if new_schema is None:
                if f"{version}->{int(version) + 1}" not in new_entry["upcasters"]:
                    problems.append(Problem(type_, version, "version removed without an upcaster to the next"))
                continue
            problems += [Problem(type_, version, m) for m in _field_changes(old_schema, new_schema, mode)]
    for type_, new_entry in new["events"].items():
        old_versions = set(old.get("events", {}).get(type_, {}).get("versions", {}))
        for version in sorted(set(new_entry["versions"]) - old_versions, key=int):
            if not old_versions:
                continue  # a brand-new type breaks nobody
            if new_entry["compat"] != "BACKWARD":
                problems.append(
                    Problem(type_, version, f"new version of a {new_entry['compat']} type: old readers cannot read it")
                )
            elif f"{int(version) - 1}->{version}" not in new_entry["upcasters"]:
                problems.append(Problem(type_, version, f"new version needs an @upcaster from v{int(version) - 1}"))
    return problems


def _field_changes(old: dict[str, Any], new: dict[str, Any], mode: str) -> list[str]:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
    changes: list[tuple[str, str]] = []
    for name in new_props.keys() - old_props.keys():
        changes.append((name, "added required" if name in new_req else "added optional"))
    for name in old_props.keys() - new_props.keys():
        changes.append((name, "removed required" if name in old_req else "removed"))
    for name in old_props.keys() & new_props.keys():
        if _shape(old_props[name]) != _shape(new_props[name]):
            changes.append((name, _bounds_change(old_props[name], new_props[name])))
        elif name in new_req and name not in old_req:
            changes.append((name, "now required"))
        elif name in old_req and name not in new_req:
            changes.append((name, "now optional"))
    return [f"field {name!r} {what} (breaks {mode} readers)" for name, what in sorted(changes) if mode in BREAKS[what]]


def _bounds_change(old: dict[str, Any], new: dict[str, Any]) -> str:
    """'bounds widened' / 'bounds narrowed' when only numeric bounds moved one way, else 'type changed'."""
    bounds = UPPER_BOUNDS + LOWER_BOUNDS

    def unbounded(prop: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in _shape(prop).items() if k not in bounds}

    if unbounded(old) != unbounded(new):
        return "type changed"
    wider = narrower = False
    for key in bounds:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if before is None or after is None:  # a bound added narrows, a bound removed widens
            loosened = after is None
        elif key in UPPER_BOUNDS:
            loosened = after > before
        else:
            loosened = after < before
        wider, narrower = wider or loosened, narrower or not loosened
    if wider and narrower:
        return "type changed"
    return "bounds widened" if wider else "bounds narrowed"


def _shape(prop: dict[str, Any]) -> dict[str, Any]:
    """A property's schema without the words (title, description, examples), which break nobody."""
    return {k: v for k, v in prop.items() if k not in {"title", "description", "examples", "default"}}
