"""Processed-markers: how a group remembers which event ids it has committed, compactly.

A marker is a (key, field) pair. Ids the bus makes are UUIDv7, whose first 48 bits are the
millisecond they were made, shared by every copy of the event (a publish retried, a DLQ
replay, a group re-reading old entries). Their markers are fields of one small hash per
(domain, group, second of the id, shard): field = the id's last 12 raw bytes, value "1". About 20
bytes per event instead of the ~150 of one string key each, as long as a hash stays in its
compact encoding (listpack, up to the server's `hash-max-listpack-entries`: 128 in the shipped
redis.conf, 512 compiled in). SHARDS spreads one second over enough hashes to keep them
there up to about 4,500 events/s per group at 128 (2,900/s gives about 60 a hash); past that
hashes convert to the hashtable encoding, correct still, at about 70-90 bytes an event
(bench/marker_bench.py measures both).

Any other id (a producer's own idempotency key) keeps a plain string key with its TTL, field
b"": correct, not compact. Both kinds expire `marker_ttl_s` after their last write (a
hash: after the newest marker written into it), so a late marker (a backlog read days later,
an old letter replayed) lives as long as any. Every key keeps its stream's `{domain}` tag.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from redis.exceptions import ResponseError

from aiwf.bus import keys
from aiwf.bus.connection import Redis

__all__ = ["BUCKET_MS", "DONE", "SHARDS", "Marker", "already_done", "count", "listpack_entries", "marker", "values"]

#: Width of one time bucket, in milliseconds of the event id's timestamp.
BUCKET_MS = 1000
#: Hashes per bucket: 2,900 events/s per group averages ~60 fields a hash, under 128 with room.
SHARDS = 48
#: The value a commit writes (a DLQ replay's suppression marker holds another).
DONE = b"1"


class Marker(NamedTuple):
    """Where one event id's marker lives: a hash field, or (field b"") a plain string key.

    A NamedTuple, not a dataclass: one is built per event committed."""

    key: str
    field: bytes = b""


def marker(domain: str, group: str, event_id: str) -> Marker:
    """The marker of `event_id` for `group` on `domain`'s stream."""
    compact = _uuid7(event_id)
    if compact is None:
        return Marker(keys.processed(domain, group, event_id))
    bucket = int.from_bytes(compact[:6], "big") // BUCKET_MS
    # The top 4 bytes count 65.5 s periods: two ids of one 1 s bucket that differ only there
    # would be 65.5 s apart, so the other 12 bytes name the id within its bucket.
    return Marker(keys.processed_bucket(domain, group, bucket, zlib.crc32(compact) % SHARDS), compact[4:])


#: A canonical UUIDv7: lower-case, dashed, version 7, RFC 4122 variant. Any other spelling keeps
#: its own plain key: one id, one marker. (A pattern, not uuid.UUID: this runs once per event.)
_UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _uuid7(event_id: str) -> bytes | None:
    """The 16 bytes of a canonical (lower-case, dashed) UUIDv7, else None."""
    if _UUID7.fullmatch(event_id) is None:
        return None
    return bytes.fromhex(event_id.replace("-", ""))


async def values(client: Redis, marks: Sequence[Marker]) -> list[bytes | None]:
    """Each marker's value (None: absent), in one round trip: one HMGET per hash, one MGET for plain keys."""
    fields: dict[str, list[int]] = defaultdict(list)
    plain: list[int] = []
    for n, m in enumerate(marks):
        (fields[m.key] if m.field else plain).append(n)
    pipe = client.pipeline(transaction=False)
    for key, at in fields.items():
        pipe.hmget(key, [marks[n].field for n in at])
    if plain:
        pipe.mget([marks[n].key for n in plain])
    replies = await pipe.execute()
    out: list[bytes | None] = [None] * len(marks)
    for at, reply in zip([*fields.values(), plain], replies, strict=False):
        for n, value in zip(at, reply, strict=True):
            out[n] = value
    return out


async def already_done(client: Redis, marks: Sequence[Marker]) -> list[bool]:
    """Whether each marker exists (a commit's or a replay's suppression: either means skip)."""
    return [v is not None for v in await values(client, marks)] if marks else []


async def count(client: Redis, domain: str, group: str) -> int:
    """How many markers `group` holds on `domain`'s stream (a scan: for tests and inspection)."""
    total = 0
    async for key in client.scan_iter(match=keys.processed_bucket(domain, group, "*", "*"), count=1000):
        total += await client.hlen(key)
    async for _ in client.scan_iter(match=keys.processed(domain, group, "*"), count=1000):
        total += 1
    return total


async def listpack_entries(client: Redis) -> int | None:
    """The server's `hash-max-listpack-entries` (6.2: `-ziplist-`), None when CONFIG is refused."""
    try:
        for name in ("hash-max-listpack-entries", "hash-max-ziplist-entries"):
            for value in (await client.config_get(name)).values():
                return int(str(value))
    except ResponseError:
        return None
    return None
