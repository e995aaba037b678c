"""Masking for display: what `tail`, `dlq show`, logs and the gateway print of a payload.

Goes by the schema, not by what a value looks like: every `Secret` field of a type is shown
as `***` whatever it holds, and any sealed text elsewhere too (bus/codec.py also refuses a
payload whose secret fields hold clear text, with `cleartext_secrets`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from aiwf.schemas.secrets import MASK, SEALED_PREFIX, is_sealed

if TYPE_CHECKING:
    from aiwf.schemas.registry import Registry

__all__ = [
    "MAX_MASK_DEPTH",
    "SEALED_TEXT",
    "cleartext_secrets",
    "mask_fields",
    "mask_payload",
    "mask_sealed",
    "mask_sealed_text",
    "secret_names",
]

SEALED_TEXT = re.compile(re.escape(SEALED_PREFIX) + r"[A-Za-z0-9+/=_-]*")
MAX_MASK_DEPTH = 64


def mask_sealed(value: Any, depth: int = 0) -> Any:
    """A copy of JSON-like `value` with every sealed string replaced by `***`."""
    if depth > MAX_MASK_DEPTH:
        return MASK  # deeper than the codec ever lets through: show nothing rather than recurse
    if isinstance(value, str):
        return MASK if value.startswith(SEALED_PREFIX) else value
    if isinstance(value, dict):
        return {k: mask_sealed(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_sealed(v, depth + 1) for v in value]
    return value


def mask_sealed_text(text: str) -> str:
    """Free text with every sealed token replaced by `***`."""
    return SEALED_TEXT.sub(MASK, text)


def mask_fields(payload: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """Copy of ``payload`` with the named fields shown as ``***`` (for logs and dead-letter views)."""
    out = dict(payload)
    for name in names:
        if out.get(name) is not None:
            out[name] = MASK
    return out


@functools.cache
def _registry() -> Registry:
    """The event registry, imported once on first use (it imports this module)."""
    from aiwf.schemas.registry import REGISTRY  # noqa: PLC0415 - the registry imports this module

    return REGISTRY


def secret_names(event_type: str, version: object = None) -> frozenset[str]:
    """The `Secret` fields of `event_type` at `version`; of any of its versions when that one is unknown.

    Masking goes by the schema, not by what a value looks like: a raw producer may have put
    clear text where a sealed value belongs. Unknown types have no known secret fields.
    """
    models = _registry().models
    if isinstance(version, int) and not isinstance(version, bool):
        model = models.get((event_type, version))
        if model is not None:
            return model.event_secret_fields
    names: frozenset[str] = frozenset()
    for (type_, _), model in models.items():
        if type_ == event_type:
            names |= model.event_secret_fields
    return names


def cleartext_secrets(event_type: str, version: object, payload: object) -> set[str]:
    """The `Secret` fields of a payload that hold a value other than a sealed one."""
    names = secret_names(event_type, version)
    if not names or not isinstance(payload, Mapping):
        return set()  # most types have no secret field: this runs for every event read
    return {n for n in names if payload.get(n) is not None and not is_sealed(payload[n])}


def mask_payload(event_type: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """What `tail`, `dlq show` and logs print: the fields that are `Secret` in any version of the
    type as `***` whatever they hold, and any sealed text elsewhere (nested secrets) as `***`."""
    masked = mask_fields(payload, secret_names(event_type))
    return cast("dict[str, Any]", mask_sealed(masked))
