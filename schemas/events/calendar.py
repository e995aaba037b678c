"""calendar: a calendar to sync, the occurrences it added, updated or removed, and how the sync ended.

calendar.sync.requested        an iCalendar document (inline or a blob) and an optional window
calendar.occurrence.added      an occurrence now in the window       } also the calendar
calendar.occurrence.updated    its SEQUENCE or what it shows changed } aggregate's events
calendar.occurrence.removed    gone from the feed or from the window } in the event store
calendar.sync.completed        the counts (all zero: nothing changed), the VEVENTs skipped or flagged
calendar.sync.rejected         the document can never be synced (malformed, hostile, too large)
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from aiwf.schemas.base import Event
from aiwf.schemas.blobref import BlobRef
from aiwf.schemas.registry import event, upcaster

#: Inline documents above this travel as a blob reference instead (claim check).
MAX_INLINE_ICS = 200_000
#: Longest texts an occurrence event carries; longer ones are cut by the service.
MAX_SUMMARY = 1_000
MAX_DESCRIPTION = 10_000

CalendarId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@-]+$")]
SyncId = Annotated[str, Field(min_length=1, max_length=64)]
#: A UTC instant as the engine writes it: `2025-03-03T08:30:00Z`.
UtcInstant = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")]
Uid = Annotated[str, Field(min_length=1, max_length=1024)]
#: RECURRENCE-ID as keyed by the engine (UTC instant or date), "" for a single event.
RecurrenceId = Annotated[str, Field(max_length=64)]
Count = Annotated[int, Field(ge=0, le=10_000_000)]
#: Most skipped (or flagged) VEVENTs a sync.completed lists; the count says how many in all.
MAX_NOTES = 100


@event("calendar.sync.requested", version=1)
class SyncRequested(Event):
    """Sync a calendar from an iCalendar document: inline text or a blob reference (exactly one).

    The window defaults to the service's (AIWF_CALENDAR_PAST_DAYS before the request's day to
    AIWF_CALENDAR_FUTURE_DAYS after); floating times and all-day dates are read in `default_tz`
    (an IANA name; default AIWF_CALENDAR_DEFAULT_TZ).
    """

    calendar_id: CalendarId
    ics: Annotated[str, Field(max_length=MAX_INLINE_ICS)] | None = None
    blob: BlobRef | None = None
    window_start: AwareDatetime | None = None
    window_end: AwareDatetime | None = None
    default_tz: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _exactly_one_source(self) -> Self:
        given = [n for n in ("ics", "blob") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of ics, blob (got {', '.join(given) or 'none'})")
        return self


class OccurrenceEvent(Event):
    """What every occurrence event names: the calendar, the sync that decided it, and the occurrence."""

    calendar_id: CalendarId
    #: The id of the calendar.sync.requested event this change came from.
    sync_id: SyncId
    uid: Uid
    recurrence_id: RecurrenceId
    start: UtcInstant
    end: UtcInstant
    sequence: Annotated[int, Field(ge=0, le=2**31 - 1)]


class OccurrenceDetails(OccurrenceEvent):
    """An occurrence as a person sees it."""

    all_day: bool
    #: The zone it was written in: UTC, its TZID, or the default zone when floating or all-day.
    tz: Annotated[str, Field(max_length=200)]
    floating: bool
    #: The start as written, in its own zone (`2025-03-03T09:30:00+01:00`, or `2025-05-01` all-day).
    local_start: Annotated[str, Field(max_length=64)]
    summary: Annotated[str, Field(max_length=MAX_SUMMARY)]
    location: Annotated[str, Field(max_length=MAX_SUMMARY)]
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION)]
    status: Annotated[str, Field(max_length=64)]
    content_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


@event("calendar.occurrence.added", version=1)
class OccurrenceAdded(OccurrenceDetails):
    """An occurrence the calendar did not hold before in its window."""


@event("calendar.occurrence.updated", version=1)
class OccurrenceUpdated(OccurrenceDetails):
    """An occurrence whose SEQUENCE or shown content (times, zone, texts, status) changed: its new version."""


@event("calendar.occurrence.removed", version=1)
class OccurrenceRemoved(OccurrenceEvent):
    """An occurrence gone from the feed or out of the window; times and sequence as last held."""


@event("calendar.sync.completed", version=1)
class SyncCompletedV1(Event):
    """v1: the counts only (a feed with one bad VEVENT was rejected whole)."""

    calendar_id: CalendarId
    sync_id: SyncId
    added: Count
    updated: Count
    removed: Count
    #: Occurrences the calendar holds in the window after this sync.
    occurrences: Count
    window_start: UtcInstant
    window_end: UtcInstant
    #: When the sync was requested (its envelope's occurred_at): an older request is refused as stale.
    requested_at: AwareDatetime


class EventNote(BaseModel):
    """A VEVENT a sync left out or read in a way its author may not have meant, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Its UID: the first when it had several, a derived `derived-...@aiwf` one when it had none.
    uid: Annotated[str, Field(max_length=1024)]
    reason: Annotated[str, Field(max_length=500)]


@event("calendar.sync.completed", version=2)
class SyncCompleted(Event):
    """A sync finished; all counts zero means the document changed nothing in the window.

    `skipped` lists VEVENTs left out (malformed, duplicate DTSTART, a TZID nobody defines...),
    `flagged` those kept but read by a rule (an unknown TZID read as UTC, an empty RRULE);
    each lists at most MAX_NOTES, and its count says how many there were.
    """

    calendar_id: CalendarId
    sync_id: SyncId
    added: Count
    updated: Count
    removed: Count
    #: Occurrences the calendar holds in the window after this sync.
    occurrences: Count
    window_start: UtcInstant
    window_end: UtcInstant
    #: When the sync was requested (its envelope's occurred_at): an older request is refused as stale.
    requested_at: AwareDatetime
    skipped: Annotated[list[EventNote], Field(default_factory=list, max_length=MAX_NOTES)]
    skipped_count: Count = 0
    flagged: Annotated[list[EventNote], Field(default_factory=list, max_length=MAX_NOTES)]
    flagged_count: Count = 0


@upcaster("calendar.sync.completed", from_version=1)
def _completed_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "skipped": [], "skipped_count": 0, "flagged": [], "flagged_count": 0}


@event("calendar.sync.rejected", version=1)
class SyncRejected(Event):
    """The sync can never succeed; `code` is machine-readable (InvalidCalendar, CalendarTooLarge, ...)."""

    calendar_id: CalendarId
    sync_id: SyncId
    code: Annotated[str, Field(max_length=64)]
    reason: Annotated[str, Field(max_length=2000)]
