"""The calendar aggregate: `calendar-<id>` in the event store, what a calendar showed after its last sync.

State: occurrence key -> (SEQUENCE, content hash, start, end), the progress of the latest sync
that stored events, and when the last changing sync was requested (a request older than that
is stale). Rebuilt from the occurrence events and sync markers each sync appends.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from aiwf.bus.store import Aggregate
from aiwf.schemas import Event
from aiwf.schemas.events.calendar import OccurrenceAdded, OccurrenceEvent, OccurrenceRemoved, SyncCompleted
from aiwf.workers.calendar.expand import OccurrenceKey

__all__ = ["CalendarAggregate", "Held", "SyncProgress"]


@dataclass(frozen=True, slots=True)
class Held:
    """What the calendar remembers of one occurrence: enough to compare and to announce its removal."""

    sequence: int
    content_hash: str
    start: str
    end: str


@dataclass
class SyncProgress:
    """The latest sync that stored events: where its events start and whether its marker is stored."""

    sync_id: str = ""
    first_version: int = 0
    last_version: int = 0
    done: bool = True
    added: int = 0
    updated: int = 0
    removed: int = 0


class CalendarAggregate(Aggregate):
    """`calendar-<id>`: the occurrences of the last synced window, and the progress of the last sync."""

    category = "calendar"
    state_version = 1

    def __init__(self, aggregate_id: str) -> None:
        """An empty calendar."""
        super().__init__(aggregate_id)
        self.held: dict[OccurrenceKey, Held] = {}
        self.sync = SyncProgress()
        #: `requested_at` of the last completed sync that changed something.
        self.requested_at: dt.datetime | None = None

    def apply(self, event: Event) -> None:
        """Fold one occurrence change or sync marker into the state."""
        version = self.version + len(self.pending) + 1  # this event's version, stored or pending
        if isinstance(event, OccurrenceEvent):
            self._track(event.sync_id, version)
            key = (event.uid, event.recurrence_id)
            if isinstance(event, OccurrenceRemoved):
                self.held.pop(key, None)
                self.sync.removed += 1
                return
            self.held[key] = Held(event.sequence, getattr(event, "content_hash", ""), event.start, event.end)
            if isinstance(event, OccurrenceAdded):
                self.sync.added += 1
            else:
                self.sync.updated += 1
        elif isinstance(event, SyncCompleted):
            self._track(event.sync_id, version)
            self.sync.done, self.sync.last_version = True, version
            self.requested_at = event.requested_at

    def _track(self, sync_id: str, version: int) -> None:
        if self.sync.sync_id != sync_id or self.sync.done:
            self.sync = SyncProgress(sync_id=sync_id, first_version=version, done=False)

    def snapshot_state(self) -> dict[str, Any]:
        """Held occurrences as rows, the sync progress, the last request time."""
        rows = [[k[0], k[1], h.sequence, h.content_hash, h.start, h.end] for k, h in self.held.items()]
        sync = self.sync
        return {
            "held": rows,
            "sync": [
                sync.sync_id,
                sync.first_version,
                sync.last_version,
                sync.done,
                sync.added,
                sync.updated,
                sync.removed,
            ],
            "requested_at": self.requested_at.isoformat() if self.requested_at else None,
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        """The inverse of snapshot_state."""
        self.held = {(r[0], r[1]): Held(int(r[2]), r[3], r[4], r[5]) for r in state["held"]}
        s = state["sync"]
        self.sync = SyncProgress(str(s[0]), int(s[1]), int(s[2]), bool(s[3]), int(s[4]), int(s[5]), int(s[6]))
        at = state["requested_at"]
        self.requested_at = dt.datetime.fromisoformat(at) if at else None
