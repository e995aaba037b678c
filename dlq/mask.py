"""Masking for display: sealed secret text never reaches a terminal or a --json document.

A secret field travels as sealed text (`sealed:v1:<base64>`, see schemas/secrets.py); any
string value with that prefix becomes `***`, and sealed tokens inside free text (error
messages, tracebacks, malformed bodies) are replaced in place.
"""

from __future__ import annotations

import re
from typing import Any

SEALED_PREFIX = "sealed:v1:"
MASK = "***"
SEALED_TEXT = re.compile(re.escape(SEALED_PREFIX) + r"[A-Za-z0-9+/=_-]*")
MAX_DEPTH = 64


def mask(value: Any, depth: int = 0) -> Any:
    """A copy of JSON-like `value` with every sealed string replaced by `***`."""
    if depth > MAX_DEPTH:
        return MASK  # deeper than the codec ever lets through: show nothing rather than recurse
    if isinstance(value, str):
        return MASK if value.startswith(SEALED_PREFIX) else value
    if isinstance(value, dict):
        return {k: mask(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v, depth + 1) for v in value]
    return value


def mask_text(text: str) -> str:
    """Free text with every sealed token replaced by `***`."""
    return SEALED_TEXT.sub(MASK, text)
