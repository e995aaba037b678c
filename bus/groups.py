"""Consumer groups: created idempotently, recreated when they vanish, and kept free of the dead."""

from __future__ import annotations

import logging
from typing import TypedDict, cast

from redis.exceptions import ResponseError

from aiwf.bus.connection import Redis

log = logging.getLogger("aiwf.groups")
#: A consumer that owns nothing and has not touched the group for this long is gone: a live one
#: reads at least every half second (bus/read.py READ_BLOCK_MS), even while idle.
GONE_AFTER_MS = 120_000


class ConsumerRow(TypedDict):
    """One row of redis-py's parsed XINFO CONSUMERS reply."""

    name: bytes
    pending: int
    idle: int


async def ensure_group(client: Redis, stream: str, group: str, start: str = "0") -> bool:
    """Create `group` on `stream` (and the stream) if missing; True when it was created.

    The default start is id 0, not `$`: a group created after events were published (or
    recreated after being deleted) still sees them, and processed-markers stop any repeat.
    """
    try:
        await client.xgroup_create(stream, group, id=start, mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" in str(exc):
            return False
        raise
    return True


def is_missing_group(exc: BaseException) -> bool:
    """True for the errors Redis gives when a group or its stream was deleted."""
    text = str(exc)
    return isinstance(exc, ResponseError) and ("NOGROUP" in text or "no longer exists" in text)


async def prune_consumers(client: Redis, stream: str, group: str, keep: str, gone_after_ms: int = GONE_AFTER_MS) -> int:
    """XGROUP DELCONSUMER every consumer but `keep` that owns no entry and has been idle past
    `gone_after_ms`: restarts leave no names behind. Returns how many were removed.

    Only consumers with nothing pending are removed (DELCONSUMER drops a consumer's pending
    entries); an orphan's entries are reclaimed first, and the consumer goes on a later pass.
    """
    rows = cast("list[ConsumerRow]", await client.xinfo_consumers(stream, group))
    removed = 0
    for row in rows:
        name = row["name"].decode()
        if name != keep and row["pending"] == 0 and row["idle"] > gone_after_ms:
            await client.xgroup_delconsumer(stream, group, name)
            removed += 1
    if removed:
        log.info("%s: removed %d consumers that were gone and owned nothing", group, removed)
    return removed


async def join_group(client: Redis, stream: str, group: str, consumer: str) -> None:
    """XGROUP CREATECONSUMER: a consumer is listed by XINFO from its start, not only once it got an entry
    (an XREADGROUP that blocks on an empty stream creates none, so an idle service showed 0 consumers)."""
    await client.xgroup_createconsumer(stream, group, consumer)


async def leave_group(client: Redis, stream: str, group: str, consumer: str) -> bool:
    """Remove `consumer` from the group if it owns nothing (a clean stop); True when removed."""
    if await client.xpending_range(stream, group, "-", "+", 1, consumername=consumer):
        return False
    await client.xgroup_delconsumer(stream, group, consumer)
    return True
