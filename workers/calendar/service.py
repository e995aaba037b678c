"""The calendar service: calendar.sync.requested -> occurrence added/updated/removed + sync.completed | rejected.

A calendar is an aggregate in the event store (`calendar-<calendar_id>`) holding what it
showed after its last sync: occurrence key -> (SEQUENCE, content hash, start, end). A sync
parses and expands the document off the event loop, compares the expansion with that state
(the engine's diff rule: new, SEQUENCE or content changed, gone), appends the changes and a
`calendar.sync.completed` marker with expected version = the version loaded, and returns the
same events to the bus. Nothing changed: nothing is stored, and only a zero-count
`sync.completed` is returned. A malformed, hostile or oversized document is a
`calendar.sync.rejected` (never a retry: the engine bounds size, rule work and time).

At least once, safely. One save stores the whole sync (Repository.save splits it into appends
of at most 1000 events, with ids derived from the request's id and each event's position in
the sync). A redelivered request whose marker is stored returns the stored events again; one
that crashed between two appends resumes from the stored state (the comparison yields exactly
the missing changes, saved after the stored ones with `resume_at`) and then returns every
event of the sync. The window
defaults are counted from the request's `occurred_at`, not the clock, so a redelivery expands
the same window. A request older than the calendar's last stored sync is rejected as
`StaleSync`, so feeds delivered out of order cannot roll a calendar back.

The agenda projection (workers/calendar/agenda.py) runs as this service's second subscription.

Settings: AIWF_CALENDAR_PAST_DAYS (30) and AIWF_CALENDAR_FUTURE_DAYS (365) around the request's
UTC day make the default window (at most 400 days together), AIWF_CALENDAR_DEFAULT_TZ (UTC)
reads floating times and all-day dates, AIWF_CALENDAR_MAX_ICS_BYTES (1 MiB),
AIWF_CALENDAR_MAX_OCCURRENCES (10000), AIWF_CALENDAR_MAX_SECONDS (3: expansion time budget),
AIWF_CALENDAR_SNAPSHOT_EVERY (200 events), AIWF_CALENDAR_UNKNOWN_TZID (reject | utc | floating: a
VEVENT whose TZID neither names a zone nor is defined by its document's VTIMEZONE is skipped, or
kept with its times read as UTC / floating and flagged).

One bad VEVENT never costs the feed: each is checked on its own, and the ones left out or
flagged are listed with their reasons in `calendar.sync.completed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from aiwf.bus import Context, PermanentError, Subscription
from aiwf.bus.blobs import BlobError, store_from_env
from aiwf.bus.config import BusConfig
from aiwf.bus.connection import Redis
from aiwf.bus.resources import PerLoop
from aiwf.bus.store import Aggregate, ConcurrencyError, EventStore, Repository
from aiwf.bus.worker import Service, Startup
from aiwf.schemas import Envelope, Event
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
from aiwf.workers.calendar.agenda import AGENDA
from aiwf.workers.calendar.errors import CalendarError, CalendarTooLarge
from aiwf.workers.calendar.expand import ExpandOptions, Occurrence, OccurrenceKey, expand
from aiwf.workers.calendar.ics import MAX_ICS_BYTES, Feed, Note, read_feed
from aiwf.workers.calendar.props import utc_iso
from aiwf.workers.calendar.settings import CalendarSettings
from aiwf.workers.calendar.zones import UnknownTzid

#: Saves redone on fresh state after losing a race with another sync of the same calendar.
SAVE_ATTEMPTS: Final = 3
MAX_SEQUENCE: Final = 2**31 - 1
UTC: Final = dt.UTC


@dataclass(frozen=True)
class Settings:
    """Window defaults and limits, from AIWF_CALENDAR_*."""

    past_days: int = 30
    future_days: int = 365
    default_tz: str = "UTC"
    max_ics_bytes: int = MAX_ICS_BYTES
    max_occurrences: int = 10_000
    max_seconds: float = 3.0
    snapshot_every: int = 200
    unknown_tzid: UnknownTzid = UnknownTzid.REJECT

    @classmethod
    def from_env(cls) -> Settings:
        """Read AIWF_CALENDAR_* (workers/calendar/settings.py); ConfigError names an impossible variable."""
        return cls(**CalendarSettings.from_env().model_dump())

    def options(self, default_tz: str | None) -> ExpandOptions:
        """The engine's limits, floating times read in `default_tz` (else the configured zone)."""
        return ExpandOptions(
            max_occurrences=self.max_occurrences,
            max_seconds=self.max_seconds,
            default_tz=default_tz or self.default_tz,
        )


# ------------------------------------------------------------------------------ aggregate


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


# ------------------------------------------------------------------------------- runtime


class Runtime:
    """One Redis client, the store and the calendar repository."""

    def __init__(self, client: Redis, config: BusConfig, settings: Settings) -> None:
        """Wire everything on `client`; nothing touches Redis until a method is awaited."""
        self.client = client
        self.settings = settings
        self.store = EventStore(client, config)
        self.calendars = Repository(self.store, CalendarAggregate, snapshot_every=settings.snapshot_every)


SETTINGS = Settings.from_env()
runtimes: PerLoop[Runtime] = PerLoop("calendar", lambda client, config: Runtime(client, config, SETTINGS))
blobs = store_from_env(BusConfig.from_env().data_dir)
calendar = Subscription(stream="calendar", group="calendar", batch=16, concurrency=4)


# ---------------------------------------------------------------------------------- sync


@calendar.handler
async def on_sync_requested(event: SyncRequested, ctx: Context) -> list[Event]:
    """Expand the document, store what changed since the calendar's last sync, return it."""
    rt = await runtimes.get()
    sync_id = ctx.envelope.id
    agg = await rt.calendars.load(event.calendar_id)
    if agg.sync.sync_id == sync_id and agg.sync.done:
        return await _stored_sync(rt, agg)
    try:
        window = _window(event, ctx.envelope.occurred_at, rt.settings)
        # Parsing and expansion are blocking CPU work: off the loop, so leases keep renewing.
        found, feed = await asyncio.to_thread(_expanded, event, window, rt.settings)
    except CalendarError as exc:
        return [_rejected(event, sync_id, type(exc).__name__, str(exc))]
    for attempt in range(SAVE_ATTEMPTS):
        if attempt:
            agg = await rt.calendars.load(event.calendar_id)
        try:
            return await _synced(rt, agg, event, ctx.envelope, window, found, feed)
        except ConcurrencyError:
            if attempt == SAVE_ATTEMPTS - 1:
                raise  # a TransientError: the bus retries the request later
    raise AssertionError("unreachable")  # pragma: no cover


async def _synced(
    rt: Runtime,
    agg: CalendarAggregate,
    event: SyncRequested,
    cause: Envelope,
    window: tuple[dt.datetime, dt.datetime],
    found: dict[OccurrenceKey, Occurrence],
    feed: Feed,
) -> list[Event]:
    """Store the changes from `agg`'s state to `found`, then the marker; the sync's events."""
    sync_id = cause.id
    if agg.sync.sync_id == sync_id and agg.sync.done:
        return await _stored_sync(rt, agg)  # a concurrent delivery of this request finished first
    resumed = agg.sync.sync_id == sync_id
    if not resumed and agg.requested_at is not None and cause.occurred_at < agg.requested_at:
        reason = f"requested at {cause.occurred_at.isoformat()}, before the last sync ({agg.requested_at.isoformat()})"
        return [_rejected(event, sync_id, "StaleSync", reason)]
    try:
        changes = _changes(agg.held, found, event.calendar_id, sync_id)
    except ValidationError as exc:
        return [_rejected(event, sync_id, "InvalidCalendar", f"an occurrence cannot be described: {exc}")]
    if not changes and not resumed:
        return [_completed(event, sync_id, window, cause.occurred_at, SyncProgress(), len(found), feed)]
    stored = agg.version - agg.sync.first_version + 1 if resumed else 0  # this sync's events already stored
    for change in changes:
        agg.record(change)
    marker = _completed(event, sync_id, window, cause.occurred_at, agg.sync, len(agg.held), feed)
    agg.record(marker)
    await rt.calendars.save(agg, cause=cause, resume_at=stored)
    if resumed:
        return await _stored_sync(rt, agg)
    return [*changes, marker]


async def _stored_sync(rt: Runtime, agg: CalendarAggregate) -> list[Event]:
    """The events the calendar's last sync stored, its marker last (for a redelivered request)."""
    records = await rt.store.read(agg.stream_id, from_version=agg.sync.first_version)
    return [r.event for r in records if r.version <= agg.sync.last_version]


def _window(event: SyncRequested, requested_at: dt.datetime, settings: Settings) -> tuple[dt.datetime, dt.datetime]:
    """The request's window, or the defaults around the UTC day it was requested on."""
    day = requested_at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = event.window_start or day - dt.timedelta(days=settings.past_days)
    end = event.window_end or day + dt.timedelta(days=settings.future_days)
    return start, end


def _expanded(
    event: SyncRequested, window: tuple[dt.datetime, dt.datetime], settings: Settings
) -> tuple[dict[OccurrenceKey, Occurrence], Feed]:
    options = settings.options(event.default_tz)
    feed = read_feed(_document(event, settings), max_bytes=settings.max_ics_bytes, unknown_tzid=settings.unknown_tzid)
    return expand(feed.calendar, window[0], window[1], options), feed


def _document(event: SyncRequested, settings: Settings) -> bytes:
    if event.ics is not None:
        return event.ics.encode()
    assert event.blob is not None  # the model guarantees exactly one source
    if event.blob.size > settings.max_ics_bytes:
        raise CalendarTooLarge(f"calendar is {event.blob.size} bytes; the limit is {settings.max_ics_bytes}")
    try:
        return blobs.get(event.blob)
    except BlobError as exc:
        raise PermanentError(f"calendar blob unreadable: {exc}") from None


def _changes(
    held: dict[OccurrenceKey, Held], found: dict[OccurrenceKey, Occurrence], calendar_id: str, sync_id: str
) -> list[OccurrenceEvent]:
    """Added, updated (SEQUENCE or content hash changed), removed: the engine's diff rule over held state."""
    out: list[OccurrenceEvent] = [
        _described(OccurrenceAdded, found[k], calendar_id, sync_id) for k in sorted(found.keys() - held.keys())
    ]
    for key in sorted(found.keys() & held.keys()):
        new, old = found[key], held[key]
        if (_sequence(new), new.content_hash) != (old.sequence, old.content_hash):
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
        sequence=_sequence(occ),
        all_day=occ.all_day,
        tz=_clip(occ.tz, 200),
        floating=occ.floating,
        local_start=occ.local_start,
        summary=_clip(occ.summary, MAX_SUMMARY),
        location=_clip(occ.location, MAX_SUMMARY),
        description=_clip(occ.description, MAX_DESCRIPTION),
        status=_clip(occ.status, 64),
        content_hash=occ.content_hash,
    )


def _sequence(occ: Occurrence) -> int:
    return max(0, min(occ.sequence, MAX_SEQUENCE))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _completed(
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
    return [EventNote(uid=n.uid, reason=_clip(n.reason, 500)) for n in notes[:MAX_NOTES]]


def _rejected(event: SyncRequested, sync_id: str, code: str, reason: str) -> SyncRejected:
    return SyncRejected(calendar_id=event.calendar_id, sync_id=sync_id, code=code, reason=_clip(reason, 2000))


# -------------------------------------------------------------------------------- agenda

#: The agenda projection: it applies on the client of the consumer that delivers each event.
agenda = AGENDA.subscription()


@contextlib.asynccontextmanager
async def lifespan(_: Startup) -> AsyncIterator[None]:
    """The store client closed after the last commit."""
    try:
        yield None
    finally:
        await runtimes.close()


SERVICE = Service(name="calendar", subscriptions=[calendar, agenda], lifespan=lifespan)

__all__ = ["SERVICE", "CalendarAggregate", "Settings", "agenda", "calendar", "on_sync_requested", "runtimes"]
