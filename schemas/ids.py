"""Event ids: UUIDv7, so ids sort by creation time and carry no coordination."""

from __future__ import annotations

import uuid_utils


def new_id() -> str:
    """Return a new UUIDv7 as its canonical 36-character string."""
    return str(uuid_utils.uuid7())
