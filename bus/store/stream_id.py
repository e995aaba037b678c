"""Stream ids: `<category>-<id>`, e.g. `user-42`, validated; their keys come from bus/keys.py.

The category is everything before the first `-`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiwf.bus import keys
from aiwf.bus.store.errors import StoreError

CATEGORY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: An aggregate id: 1..200 visible characters, no whitespace or control characters.
ID_PATTERN = re.compile(r"^[^\s\x00-\x1f\x7f]{1,200}$")
#: The global log's category name; reserved, no aggregate category may take it.
ALL = keys.STORE_ALL


@dataclass(frozen=True)
class StreamId:
    """A parsed `<category>-<id>` and the keys of that aggregate."""

    category: str
    id: str

    def __str__(self) -> str:
        return f"{self.category}-{self.id}"

    @property
    def events(self) -> str:
        """The aggregate's stream; entry `<version>-0` holds version `<version>`."""
        return keys.aggregate_events(self.category, self.id)

    @property
    def event_ids(self) -> str:
        """Hash: event id -> version, the idempotency index of retried appends."""
        return keys.aggregate_index(self.category, self.id)

    @property
    def snapshot(self) -> str:
        """The latest snapshot of the aggregate (a cache: deleting it only slows the next load)."""
        return keys.aggregate_snapshot(self.category, self.id)


def parse(stream_id: str) -> StreamId:
    """`user-42` -> StreamId('user', '42'), or StoreError saying what is wrong."""
    category, sep, ident = stream_id.partition("-")
    if not sep:
        raise StoreError(f"stream id {stream_id[:80]!r} must look like '<category>-<id>', e.g. 'user-42'")
    check_category(category)
    if not ID_PATTERN.match(ident):
        raise StoreError(f"stream id {stream_id[:80]!r}: the id must be 1..200 visible characters without spaces")
    return StreamId(category, ident)


def check_category(category: str) -> str:
    """Return `category` if valid; StoreError otherwise (`all` names the global log)."""
    if not CATEGORY_PATTERN.match(category) or category == ALL:
        raise StoreError(f"category {category[:80]!r} must match [a-z][a-z0-9_]{{0,39}} and not be {ALL!r}")
    return category
