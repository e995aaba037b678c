"""Reclaim and leases: orphaned entries come back, live ones are never stolen.

An entry idle past `reclaim_idle_s` belongs to a consumer presumed dead: XAUTOCLAIM moves it
to a live one (bumping its delivery count). `reclaim_idle` does it page after page until the
whole pending list has been scanned or a time budget is spent, so a crash's backlog of
thousands comes back in one pass, not a page per pass. A live consumer keeps every entry it still owns
(running, or waiting for a retry) fresh by XCLAIM ... JUSTID to itself every
`lease_renew_s`, which resets the idle time without counting a delivery, so a handler that
runs for minutes is not run twice.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from aiwf.bus import keys
from aiwf.bus.codec import entry_order, text
from aiwf.bus.connection import Redis

Fields = dict[bytes, bytes]
AutoclaimReply = tuple[bytes, list[tuple[bytes, Fields]], list[bytes]]
"""XAUTOCLAIM: (next cursor, claimed entries, ids deleted meanwhile: 7.0+ and late 6.2)."""


class PendingRow(TypedDict):
    """One row of redis-py's parsed XPENDING range reply."""

    message_id: bytes
    consumer: bytes
    time_since_delivered: int
    times_delivered: int


@dataclass(frozen=True)
class Delivery:
    """One entry handed to this consumer: `fields` is None when the entry was trimmed meanwhile."""

    entry_id: str
    fields: Fields | None
    deliveries: int


async def autoclaim(
    client: Redis, stream: str, group: str, consumer: str, min_idle_ms: int, cursor: str, count: int
) -> tuple[str, list[Delivery], list[str]]:
    """XAUTOCLAIM one page: (next cursor, claimed deliveries with their counts, ids deleted meanwhile)."""
    reply = cast("AutoclaimReply", await client.xautoclaim(stream, group, consumer, min_idle_ms, cursor, count=count))
    next_cursor = text(reply[0])
    claimed = [(text(eid), fields) for eid, fields in reply[1] if eid is not None]
    deleted = [text(eid) for eid in reply[2]] if len(reply) > 2 else []
    counts = await delivery_counts(client, stream, group, consumer, [eid for eid, _ in claimed])
    return next_cursor, [Delivery(eid, fields, counts.get(eid, 1)) for eid, fields in claimed], deleted


#: XAUTOCLAIM's cursor when a scan of the pending list is complete.
SCAN_DONE = "0-0"


@dataclass(frozen=True)
class ReclaimPage:
    """One page of a reclaim pass: what it claimed, what was trimmed meanwhile, and where to resume."""

    deliveries: list[Delivery]
    deleted: list[str] = field(default_factory=list)
    cursor: str = SCAN_DONE


async def reclaim_idle(
    client: Redis,
    stream: str,
    group: str,
    consumer: str,
    min_idle_ms: int,
    *,
    budget_s: float = 1.0,
    page: int = 100,
    cursor: str = SCAN_DONE,
    max_count: int | None = None,
) -> AsyncIterator[ReclaimPage]:
    """Claim every entry idle past `min_idle_ms` for `consumer`, one XAUTOCLAIM page at a time.

    Contract, for the consumer loop:
    - yields one `ReclaimPage` per XAUTOCLAIM call (a page may be empty: its entries were not
      idle yet); the caller handles a page before asking for the next, so what it claimed is
      never left idle long enough to be claimed back by someone else;
    - the pass ends when the scan wraps (cursor back to "0-0": nothing idle is left past this
      point of the list), when `budget_s` has elapsed (checked before each page after the
      first, so a pass makes progress on any budget), or when `max_count` entries are claimed;
    - the last page's `cursor` is where the next pass resumes (pass it as `cursor`); "0-0" means
      the scan was complete;
    - delivery counts are read in the same pass (one XPENDING per page), so retry limits hold.
    Redis errors propagate: the caller decides what an outage means.
    """
    deadline = time.monotonic() + budget_s
    claimed = 0
    first = True
    while first or time.monotonic() < deadline:
        first = False
        want = page if max_count is None else min(page, max_count - claimed)
        if want <= 0:
            return
        cursor, deliveries, deleted = await autoclaim(client, stream, group, consumer, min_idle_ms, cursor, want)
        claimed += len(deliveries)
        yield ReclaimPage(deliveries, deleted, cursor)
        if cursor == SCAN_DONE:
            return


async def claim_due(
    client: Redis, stream: str, group: str, consumer: str, min_idle_ms: int, due: dict[str, int]
) -> list[Delivery]:
    """XCLAIM entries whose retry is due; `due` maps entry id -> deliveries so far."""
    if not due:
        return []
    reply = cast(
        "list[tuple[bytes, Fields | None]]", await client.xclaim(stream, group, consumer, min_idle_ms, list(due))
    )
    return [Delivery(text(eid), fields, due[text(eid)] + 1) for eid, fields in reply if eid is not None]


async def renew(client: Redis, stream: str, group: str, consumer: str, entry_ids: Collection[str]) -> None:
    """Reset the idle time of entries this consumer still owns (JUSTID: no delivery counted)."""
    if entry_ids:
        await client.xclaim(stream, group, consumer, 0, list(entry_ids), justid=True)


async def delivery_counts(
    client: Redis, stream: str, group: str, consumer: str, entry_ids: list[str]
) -> dict[str, int]:
    """Delivery counts of entries owned by `consumer`, in one XPENDING range call."""
    if not entry_ids:
        return {}
    wanted = set(entry_ids)
    rows = await client.xpending_range(
        stream,
        group,
        min=min(entry_ids, key=entry_order),
        max=max(entry_ids, key=entry_order),
        count=len(entry_ids) * 4 + 100,
        consumername=consumer,
    )
    typed = cast("list[PendingRow]", rows)
    return {text(r["message_id"]): r["times_delivered"] for r in typed if text(r["message_id"]) in wanted}


async def hand_back(client: Redis, stream: str, group: str, consumer: str, entry_ids: Collection[str]) -> None:
    """Make entries we hold claimable at once by another consumer (a graceful stop).

    Redis has no "unclaim": XCLAIM ... IDLE sets their idle time past any reclaim threshold, so
    the next XAUTOCLAIM of a live consumer takes them instead of waiting `reclaim_idle_s`.
    """
    if entry_ids:
        await client.xclaim(stream, group, consumer, 0, list(entry_ids), idle=HANDED_BACK_IDLE_MS, justid=True)


#: The idle time a handed-back entry gets: a day, past any sensible reclaim threshold.
HANDED_BACK_IDLE_MS = 24 * 3600 * 1000


async def hand_back_all(client: Redis, consumer: str) -> int:
    """Make every entry a dead consumer held, on every stream, claimable at once (its supervisor saw it die).

    Without this a live consumer takes them only once they are idle `reclaim_idle_s`.
    """
    handed = 0
    async for raw in client.scan_iter(match=keys.STREAM_PATTERN, count=500, _type="stream"):
        stream = raw.decode()
        for group in await client.xinfo_groups(stream):
            name = text(group["name"])
            pending = cast(
                "list[dict[str, Any]]",
                await client.xpending_range(stream, name, "-", "+", 10_000, consumername=consumer),
            )
            ids = [text(p["message_id"]) for p in pending]
            await hand_back(client, stream, name, consumer, ids)
            handed += len(ids)
    return handed
