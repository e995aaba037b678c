"""How a calendar's recent syncs ended, read back from the calendar stream (for `aiwf calendar syncs`).

No-op syncs store nothing in the event store, so the stream is the one place that holds
every outcome; it is read newest first, at most `scan` entries back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, cast

from aiwf.bus import codec, keys
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.schemas import REGISTRY, MalformedEvent
from aiwf.schemas.errors import InvalidPayload, UnknownEventType, UnsupportedVersion
from aiwf.schemas.events.calendar import SyncCompleted, SyncRejected

__all__ = ["SyncOutcome", "recent_syncs"]

_OUTCOMES: Final = {SyncCompleted.event_type, SyncRejected.event_type}
_PAGE: Final = 500


@dataclass(frozen=True)
class SyncOutcome:
    """One sync as it ended: counts when completed, the reason when rejected, the events it left out."""

    sync_id: str
    at: str
    outcome: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    occurrences: int = 0
    reason: str = ""
    skipped_count: int = 0
    flagged_count: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    flagged: list[dict[str, str]] = field(default_factory=list)


def _outcome(at: str, event: Any) -> SyncOutcome:
    if isinstance(event, SyncRejected):
        return SyncOutcome(event.sync_id, at, "rejected", reason=f"{event.code}: {event.reason}")
    return SyncOutcome(
        event.sync_id,
        at,
        "completed",
        event.added,
        event.updated,
        event.removed,
        event.occurrences,
        skipped_count=event.skipped_count,
        flagged_count=event.flagged_count,
        skipped=[n.model_dump() for n in event.skipped],
        flagged=[n.model_dump() for n in event.flagged],
    )


async def recent_syncs(
    client: Redis, config: BusConfig, calendar_id: str, *, limit: int = 5, scan: int = 10_000
) -> list[SyncOutcome]:
    """The newest `limit` sync outcomes of `calendar_id` among the last `scan` calendar events."""
    found: list[SyncOutcome] = []
    upper, seen = "+", 0
    while len(found) < limit and seen < scan:
        page = await client.xrevrange(keys.stream("calendar"), max=upper, min="-", count=_PAGE)
        rows = cast("list[tuple[bytes, dict[bytes, bytes]]]", page)
        for _, fields in rows:
            try:
                env = codec.decode(fields, config.max_event_bytes)
                if env.type not in _OUTCOMES or env.payload.get("calendar_id") != calendar_id:
                    continue
                event = REGISTRY.parse(env.type, env.version, env.payload)
            except (MalformedEvent, InvalidPayload, UnknownEventType, UnsupportedVersion):
                continue  # not ours to judge here: the DLQ tools show broken entries
            found.append(_outcome(env.occurred_at.isoformat(), event))
            if len(found) == limit:
                break
        seen += len(rows)
        if len(rows) < _PAGE:
            break
        upper = "(" + codec.text(rows[-1][0])
    return found
