"""Raw Redis replies as the tests' clients (bytes, not decoded) return them.

redis-py types a reply as the union of every client mode (bytes or str, or None); the tests'
clients never decode, so a test casts a reply to one of these once, where it reads it.
"""

from __future__ import annotations

Fields = dict[bytes, bytes]
"""The fields of one stream entry."""

Entry = tuple[bytes, Fields]
"""One stream entry: its id and its fields."""

Entries = list[Entry]
"""XRANGE / XREVRANGE: entries in order."""

StreamEntries = list[tuple[bytes, Entries]]
"""XREAD / XREADGROUP: each stream with the entries read from it."""
