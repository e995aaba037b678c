"""Read: entries back to `Recorded` events, upcast to their newest schema version.

The aggregate stream is read by version (entry `<version>-0`), the category view and the
global log by position (the entry id there, which sorts in append order).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final, cast

from aiwf.bus import codec
from aiwf.bus.connection import Redis
from aiwf.bus.store.append import FIELD_STREAM, FIELD_VERSION
from aiwf.schemas import REGISTRY, Envelope, Event

log = logging.getLogger("aiwf.store")
Entries = list[tuple[bytes, dict[bytes, bytes]]]
"""XRANGE's reply: [(entry id, fields)]."""
#: Entries per XRANGE round trip when a whole aggregate is read.
READ_PAGE: Final = 2000
#: Largest page of a category or global read.
MAX_LIMIT: Final = 10_000
#: Read a category or the global log from its beginning.
START: Final = "0-0"
_STREAM, _VERSION = FIELD_STREAM.encode(), FIELD_VERSION.encode()


@dataclass(frozen=True)
class Recorded:
    """One stored event: where it is, its envelope as stored, and its payload as the newest model."""

    stream_id: str
    version: int
    #: The entry id in the stream it was read from: pass it as `after` to read on from here.
    position: str
    #: As written; `envelope.version` is the schema version it was stored with.
    envelope: Envelope
    #: Upcast to the newest schema version and validated.
    event: Event


async def read_aggregate(client: Redis, key: str, stream_id: str, from_version: int, max_bytes: int) -> list[Recorded]:
    """Every event of one aggregate with version >= from_version, oldest first, in pages."""
    start, out = f"{max(from_version, 1)}-0", []
    while True:
        page = cast("Entries", await client.xrange(key, min=start, max="+", count=READ_PAGE))
        for entry_id, fields in page:
            position = entry_id.decode()
            out.append(_recorded(stream_id, int(position.split("-", 1)[0]), position, fields, max_bytes))
        if len(page) < READ_PAGE:
            return out
        start = f"({page[-1][0].decode()}"


async def read_log(client: Redis, key: str, after: str, limit: int, max_bytes: int) -> list[Recorded]:
    """Up to `limit` events of a category view or the global log after position `after`."""
    page = cast("Entries", await client.xrange(key, min=f"({after}", max="+", count=min(max(limit, 1), MAX_LIMIT)))
    out = []
    for entry_id, fields in page:
        sid, version = fields.get(_STREAM), fields.get(_VERSION)
        if sid is None or version is None:
            # Only the append script writes here; anything else is not part of the log.
            log.warning("%s: entry %s was not written by an append; skipped", key, entry_id.decode())
            continue
        out.append(_recorded(sid.decode(), int(version), entry_id.decode(), fields, max_bytes))
    return out


def _recorded(stream_id: str, version: int, position: str, fields: dict[bytes, bytes], max_bytes: int) -> Recorded:
    env = codec.decode(fields, max_bytes)
    return Recorded(stream_id, version, position, env, REGISTRY.parse(env.type, env.version, env.payload))
