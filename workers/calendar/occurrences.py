"""The events a sync decides: occurrence changes (the engine's diff rule over the held state), its marker.

changes    added (new key), updated (SEQUENCE or content hash changed), removed (gone), by key
completed  calendar.sync.completed: the counts, the window, each VEVENT skipped or flagged
rejected   calendar.sync.rejected: a code and the reason
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from aiwf.schemas.events.calendar import (
    MAX_DESCRIPTION,
    MAX_NOTES,
    MAX_SUMMARY,
    EventNote,
    OccurrenceAdded,
    OccurrenceDetails,
    OccurrenceEvent,
    OccurrenceRemoved,
    OccurrenceUpdated,
    SyncCompleted,
    SyncRejected,
    SyncRequested,
)
from aiwf.workers.calendar.aggregate import Held, SyncProgress
from aiwf.workers.calendar.expand import Occurrence, OccurrenceKey
from aiwf.workers.calendar.ics import Feed, Note
from aiwf.workers.calendar.props import utc_iso

__all__ = ["changes", "clip", "completed", "rejected"]

MAX_SEQUENCE: Final = 2**31 - 1


def changes(
    held: dict[OccurrenceKey, Held], found: dict[OccurrenceKey, Occurrence], calendar_id: str, sync_id: str
) -> list[OccurrenceEvent]:
    """Added, updated (SEQUENCE or content hash changed), removed: the engine's diff rule over held state."""
    out: list[OccurrenceEvent] = [
        _described(OccurrenceAdded, found[k], calendar_id, sync_id) for k in sorted(found.keys() - held.keys())
    ]
    for key in sorted(found.keys() & held.keys()):
        new, old = found[key], held[key]
        if (sequence(new), new.content_hash) != (old.sequence, old.content_hash):
            out.append(_described(OccurrenceUpdated, new, calendar_id, sync_id))
    for key in sorted(held.keys() - found.keys()):
        old = held[key]
        out.append(
            OccurrenceRemoved(
                calendar_id=calendar_id,
                sync_id=sync_id,
                uid=key[0],
                recurrence_id=key[1],
                start=old.start,
                end=old.end,
                sequence=old.sequence,
            )
        )
    return out


def _described(model: type[OccurrenceDetails], occ: Occurrence, calendar_id: str, sync_id: str) -> OccurrenceDetails:
    return model(
        calendar_id=calendar_id,
        sync_id=sync_id,
        uid=occ.uid,
        recurrence_id=occ.recurrence_id,
        start=occ.start,
        end=occ.end,
        sequence=sequence(occ),
        all_day=occ.all_day,
        tz=clip(occ.tz, 200),
        floating=occ.floating,
        local_start=occ.local_start,
        summary=clip(occ.summary, MAX_SUMMARY),
        location=clip(occ.location, MAX_SUMMARY),
        description=clip(occ.description, MAX_DESCRIPTION),
        status=clip(occ.status, 64),
        content_hash=occ.content_hash,
    )


def sequence(occ: Occurrence) -> int:
    return max(0, min(occ.sequence, MAX_SEQUENCE))


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def completed(
    event: SyncRequested,
    sync_id: str,
    window: tuple[dt.datetime, dt.datetime],
    requested_at: dt.datetime,
    progress: SyncProgress,
    occurrences: int,
    feed: Feed,
) -> SyncCompleted:
    return SyncCompleted(
        calendar_id=event.calendar_id,
        sync_id=sync_id,
        added=progress.added,
        updated=progress.updated,
        removed=progress.removed,
        occurrences=occurrences,
        window_start=utc_iso(window[0]),
        window_end=utc_iso(window[1]),
        requested_at=requested_at,
        skipped=_notes(feed.skipped),
        skipped_count=len(feed.skipped),
        flagged=_notes(feed.flagged),
        flagged_count=len(feed.flagged),
    )


def _notes(notes: list[Note]) -> list[EventNote]:
    return [EventNote(uid=n.uid, reason=clip(n.reason, 500)) for n in notes[:MAX_NOTES]]


def rejected(event: SyncRequested, sync_id: str, code: str, reason: str) -> SyncRejected:
    return SyncRejected(calendar_id=event.calendar_id, sync_id=sync_id, code=code, reason=clip(reason, 2000))
