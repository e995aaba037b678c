"""Blob garbage collection: delete the blobs nothing in Redis mentions any more, after a grace period.

A blob is live while any key mentions its sha256: an event or a dead letter on a stream
(pending, unread or replayable), an event-store stream, or a read-model value (hash, string,
set, sorted set, list). Markers and heartbeats are skipped: they never hold a ref. The scan
matches any 64-hex-digit token, so a ref in any field or encoding keeps its blob; it errs
on the side of keeping. A blob put within the grace period is kept unread, because a
producer puts the blob first and publishes the event that names it afterwards; putting an
existing blob again restarts its grace period.

The scan reads every key once: O(data in Redis), for a command, never for a hot path.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from aiwf.bus import keys
from aiwf.bus.blobs import FileBlobStore, StoredBlob
from aiwf.bus.connection import Redis

__all__ = ["Collection", "collect", "referenced"]

_HEX64 = re.compile(rb"[0-9a-f]{64}")
#: Key families that never mention a blob (markers can be millions of keys).
_SKIPPED = tuple(f"{keys.PREFIX}:{kind}:".encode() for kind in ("done", "marks", "hb"))
_PAGE = 1000
_STREAM_PAGE = 100  # entries may be up to AIWF_MAX_EVENT_BYTES each


@dataclass
class Collection:
    """What one gc pass found: the blobs removed (or that would be, on a dry run) and those kept."""

    removed: list[StoredBlob] = field(default_factory=list)
    referenced: int = 0
    young: int = 0
    dry_run: bool = False

    @property
    def freed_bytes(self) -> int:
        return sum(b.size for b in self.removed)


async def collect(
    client: Redis, store: FileBlobStore, grace_s: float, *, dry_run: bool = False, now: float | None = None
) -> Collection:
    """Remove the store's blobs older than `grace_s` that no key in Redis mentions."""
    cutoff = (now if now is not None else time.time()) - grace_s
    result = Collection(dry_run=dry_run)
    old = []
    for blob in store.stored():
        if blob.modified > cutoff:
            result.young += 1
        else:
            old.append(blob)
    live = await referenced(client, {b.sha256 for b in old})
    for blob in old:
        if blob.sha256 in live:
            result.referenced += 1
        elif dry_run or store.delete_if_untouched(blob):
            result.removed.append(blob)
        else:
            result.young += 1  # put again while we scanned
    return result


async def referenced(client: Redis, wanted: set[str]) -> set[str]:
    """Which of the sha256s in `wanted` some key in Redis mentions."""
    found: set[str] = set()
    if not wanted:
        return found
    async for key in client.scan_iter(count=_PAGE):
        if key.startswith(_SKIPPED):
            continue
        async for chunk in _values(client, key):
            found |= {m.decode() for m in _HEX64.findall(chunk)} & wanted
        if found == wanted:
            break
    return found


async def _values(client: Redis, key: bytes) -> AsyncIterator[bytes]:
    """Everything stored under `key`, in chunks of joined bytes, whatever its type."""
    kind = await client.type(key)
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind == "stream":
        start = "-"
        while True:
            page = cast(
                "list[tuple[bytes, dict[bytes, bytes]]]", await client.xrange(key, start, "+", count=_STREAM_PAGE)
            )
            if not page:
                return
            yield b" ".join(v for _, fields in page for pair in fields.items() for v in pair)
            if len(page) < _STREAM_PAGE:
                return
            start = "(" + page[-1][0].decode()
    elif kind == "hash":
        async for pair in _joined(client.hscan_iter(key, count=_PAGE)):
            yield pair
    elif kind == "string":
        value = await client.get(key)
        if value:
            yield value if isinstance(value, bytes) else str(value).encode()
    elif kind == "set":
        async for member in _joined(client.sscan_iter(key, count=_PAGE)):
            yield member
    elif kind == "zset":
        async for member in _joined(client.zscan_iter(key, count=_PAGE)):
            yield member
    elif kind == "list":
        for first in range(0, int(await client.llen(key)), _PAGE):
            yield b" ".join(cast("list[bytes]", await client.lrange(key, first, first + _PAGE - 1)))


async def _joined(items: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """Scan results (members, (field, value) or (member, score)) as bytes, one page at a time."""
    page: list[bytes] = []
    async for item in items:
        page.extend(_as_bytes(item if isinstance(item, tuple) else (item,)))
        if len(page) >= _PAGE:
            yield b" ".join(page)
            page = []
    if page:
        yield b" ".join(page)


def _as_bytes(parts: Iterable[object]) -> list[bytes]:
    return [p if isinstance(p, bytes) else str(p).encode() for p in parts]
