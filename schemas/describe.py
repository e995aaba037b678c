"""What a producer needs to publish one event type: its fields, one valid example, its versions and upcasters.

Everything is read from the registered pydantic models (their JSON Schema) and upcasters, so
`aiwf schemas show` can never drift from the code. The example is built from the schema — the
required fields, then, when a model validator wants more (exactly one of text|blob, say), the
fewest optional fields that make it valid — and is validated by the model before it is shown.
"""

from __future__ import annotations

import inspect
import itertools
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from aiwf.schemas.base import Event
from aiwf.schemas.registry import REGISTRY, Registry

JsonSchema = dict[str, Any]
#: Strings tried, in order, against a field's pattern: each pattern in the registered events has one.
PATTERN_SAMPLES = (
    "example-1",
    "0" * 32,
    "0" * 64,
    "2025-03-01T09:00:00Z",
    "blob:sha256:" + "0" * 64,
    "text/plain",
)
CONSTRAINTS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "format",
)
#: Optional fields added at most this many at a time while looking for a valid example.
MAX_OPTIONAL_ADDED = 2


@dataclass(frozen=True)
class FieldInfo:
    """One payload field as a producer sees it."""

    name: str
    type: str
    required: bool
    constraints: dict[str, Any]
    description: str
    secret: bool

    def as_json(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "constraints": self.constraints,
            "description": self.description,
            "secret": self.secret,
        }


def describe(event_type: str, registry: Registry = REGISTRY) -> dict[str, Any]:
    """The newest version's fields and example, and every version with the upcaster that lifts it."""
    model = registry.latest(event_type)
    schema = model.model_json_schema()
    versions = registry.versions(event_type)
    return {
        "type": event_type,
        "version": versions[-1],
        "compat": registry.compat[event_type].value,
        "description": inspect.cleandoc(model.__doc__ or ""),
        "fields": [f.as_json() for f in fields(schema)],
        "example": example(model),
        "versions": [
            {
                "version": v,
                "model": registry.models[(event_type, v)].__qualname__,
                "upcaster": _upcaster(registry, event_type, v),
            }
            for v in versions
        ],
    }


def fields(schema: JsonSchema) -> list[FieldInfo]:
    """The top-level fields of a model's JSON Schema, in declaration order."""
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema.get("properties", {}).items():
        branch = _main_branch(schema, prop)
        out.append(
            FieldInfo(
                name=name,
                type=_type_name(schema, prop),
                required=name in required,
                constraints={k: branch[k] for k in CONSTRAINTS if k in branch}
                | ({"enum": branch["enum"]} if "enum" in branch else {})
                | ({"default": prop["default"]} if prop.get("default") is not None else {}),
                description=str(prop.get("description") or branch.get("description") or ""),
                secret=bool(branch.get("x-aiwf-secret")),
            )
        )
    return out


def example(model: type[Event]) -> dict[str, Any] | None:
    """A payload `model` accepts: its required fields, plus the fewest optional ones it needs; None if none found."""
    schema = model.model_json_schema()
    required = [n for n in schema.get("properties", {}) if n in set(schema.get("required", []))]
    optional = [n for n in schema.get("properties", {}) if n not in required]
    values = {n: sample(schema, p, n) for n, p in schema.get("properties", {}).items()}
    for added in range(min(MAX_OPTIONAL_ADDED, len(optional)) + 1):
        for extra in itertools.combinations(optional, added):
            payload = {n: values[n] for n in [*required, *extra]}
            try:
                model.model_validate(payload)
            except ValidationError:
                continue
            return payload
    return None


def sample(root: JsonSchema, node: JsonSchema, name: str = "value") -> Any:
    """A value that satisfies `node`'s own constraints (refs resolved against `root`)."""
    node = _main_branch(root, node)
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "string":
        return _string(node, name)
    if kind in {"integer", "number"}:
        return _number(node, kind)
    if kind == "boolean":
        return False
    if kind == "array":
        return [sample(root, node.get("items", {}), name) for _ in range(max(1, node.get("minItems", 1)))]
    if kind == "object" or "properties" in node:
        props = node.get("properties", {})
        return {n: sample(root, p, n) for n, p in props.items() if n in set(node.get("required", []))}
    return None


def _string(node: JsonSchema, name: str) -> str:
    if node.get("format") == "date-time":
        return "2025-03-01T09:00:00Z"
    if node.get("format") == "password":
        return "s3cret-example"
    low, high = node.get("minLength", 0), node.get("maxLength", 10_000)
    candidates = [f"example-{name}".replace("_", "-"), *PATTERN_SAMPLES]
    pattern = node.get("pattern")
    for candidate in candidates:
        text = candidate[:high].ljust(low, "x")
        if pattern is None or re.search(pattern, text):
            return text
    return candidates[0]


def _number(node: JsonSchema, kind: str) -> int | float:
    low = node.get("minimum", node.get("exclusiveMinimum", 0) + (1 if kind == "integer" else 0.5))
    high = node.get("maximum", node.get("exclusiveMaximum", low + 2) - (1 if kind == "integer" else 0.5))
    value = min(max(low, 1), high)
    return int(value) if kind == "integer" else float(value)


def _main_branch(root: JsonSchema, node: JsonSchema) -> JsonSchema:
    """`node` with its $ref resolved and, for an optional `X | None`, the X branch."""
    if "$ref" in node:
        node = root.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1], {})
    for union in ("anyOf", "oneOf"):
        if union in node:
            branches = [b for b in node[union] if b.get("type") != "null"]
            return _main_branch(root, branches[0]) if branches else node
    return node


def _type_name(root: JsonSchema, node: JsonSchema) -> str:
    if "$ref" in node:
        return str(node["$ref"]).rsplit("/", 1)[-1]
    for union in ("anyOf", "oneOf"):
        if union in node:
            return " | ".join(_type_name(root, b) for b in node[union])
    kind = node.get("type", "any")
    if kind == "array":
        return f"array of {_type_name(root, node.get('items', {}))}"
    if kind == "object" and "additionalProperties" in node and isinstance(node["additionalProperties"], dict):
        return f"object of {_type_name(root, node['additionalProperties'])}"
    return str(kind)


def _upcaster(registry: Registry, event_type: str, version: int) -> str | None:
    """How version `version` reaches the next one: the upcaster's name and first docstring line."""
    fn = registry.upcasters.get((event_type, version))
    if fn is None:
        return None
    doc = (fn.__doc__ or "").strip().splitlines()
    return f"{fn.__module__}.{fn.__qualname__}" + (f": {doc[0]}" if doc else "")
