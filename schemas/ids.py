"""Event ids: UUIDv7, so ids sort by creation time and carry no coordination.

Ids a caller supplies (an event id fixed as an idempotency key, a correlation or causation
id from another system) end up in Redis keys and log lines, so they are held to one shape:
1 to 64 printable ASCII characters, no spaces. A UUID in its canonical form fits.
"""

from __future__ import annotations

import re

import uuid_utils

from aiwf.schemas.errors import MalformedEvent

MAX_ID_CHARS = 64
ID_PATTERN = r"^[!-~]{1,64}$"
_ID = re.compile(ID_PATTERN)


def new_id() -> str:
    """Return a new UUIDv7 as its canonical 36-character string."""
    return str(uuid_utils.uuid7())


def check_id(value: object, what: str) -> str:
    """`value` if it is a well-formed id; MalformedEvent saying what is wrong (never echoing a long value)."""
    if not isinstance(value, str):
        raise MalformedEvent(f"{what} must be a string, got {type(value).__name__}")
    if len(value) > MAX_ID_CHARS:
        raise MalformedEvent(f"{what} is {len(value)} characters; the limit is {MAX_ID_CHARS}")
    if not _ID.fullmatch(value):
        raise MalformedEvent(f"{what} {value!r} must be 1-{MAX_ID_CHARS} printable ASCII characters, no spaces")
    return value
