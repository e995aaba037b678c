"""Stream ids and every store key.

A stream id is `<category>-<id>`, e.g. `user-42`: the category is everything before the first
`-`. All keys of one category share the hash tag `{es-<category>}`, the same tag as the
category stream, which is a bus stream (`aiwf:ev:{es-<category>}`) so that a projection is an
ordinary consumer group on it. Bus event domains cannot contain `-`, so `es-...` never
collides with a domain stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiwf.bus import keys as bus_keys
from aiwf.bus.store.errors import StoreError

CATEGORY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: An aggregate id: 1..200 visible characters, no whitespace or control characters.
ID_PATTERN = re.compile(r"^[^\s\x00-\x1f\x7f]{1,200}$")
#: The bus domain prefix of every store stream: retention must never trim these.
DOMAIN_PREFIX = "es-"
#: The global log's category name; reserved, no aggregate category may take it.
ALL = "all"


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
        return f"aiwf:es:{{{domain(self.category)}}}:{self.id}"

    @property
    def event_ids(self) -> str:
        """Hash: event id -> version, the idempotency index of retried appends."""
        return f"aiwf:esid:{{{domain(self.category)}}}:{self.id}"

    @property
    def snapshot(self) -> str:
        """The latest snapshot of the aggregate (a cache: deleting it only slows the next load)."""
        return f"aiwf:snap:{{{domain(self.category)}}}:{self.id}"


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


def domain(category: str) -> str:
    """The bus domain of a category's stream (`user` -> `es-user`); `ALL` gives the global log's."""
    return DOMAIN_PREFIX + category


def category_stream(category: str) -> str:
    """The category view: every event of every aggregate of one category, in append order."""
    return bus_keys.stream(domain(category))


GLOBAL_STREAM = bus_keys.stream(domain(ALL))
"""The global log: every appended event, in append order."""


def is_store_domain(bus_domain: str) -> bool:
    """True for the bus domain of a category or the global log: a stream that is never trimmed."""
    return bus_domain.startswith(DOMAIN_PREFIX)
